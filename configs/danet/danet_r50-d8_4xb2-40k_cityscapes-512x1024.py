# mmseg's DANet R-50-D8 (Cityscapes, 512x1024, 40k) with attnplug's DAHead: the same model and
# keys (mmseg's checkpoints load), the position attention in bounded memory.
_base_ = ['mmseg::danet/danet_r50-d8_4xb2-40k_cityscapes-512x1024.py']
model = dict(decode_head=dict(type='attnplug.DAHead'))
