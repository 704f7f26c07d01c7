# mmseg's DANet R-50-D8 (VOC 2012 + aug, 512x512, 20k) with attnplug's DAHead.
_base_ = ['mmseg::danet/danet_r50-d8_4xb4-20k_voc12aug-512x512.py']
model = dict(decode_head=dict(type='attnplug.DAHead'))
