# mmseg's CCNet R-50-D8 (ADE20K, 512x512, 80k) with attnplug's CCHead.
_base_ = ['mmseg::ccnet/ccnet_r50-d8_4xb4-80k_ade20k-512x512.py']
model = dict(decode_head=dict(type='attnplug.CCHead'))
