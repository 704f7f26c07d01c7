# mmseg's FCN R-50-D8 (VOC 2012 + aug, 512x512, 20k) with CBAM (channel, then spatial attention;
# Woo et al., arXiv 1807.06521) between the two convs of its head.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py']
model = dict(
    decode_head=dict(
        type='attnplug.AttnFCNHead', attn_cfg=dict(type='attnplug.CBAM')))
