# The FCN baseline of the bundled Cityscapes (from-scratch R-18-D8 at half width, BN, same
# schedule and seed) with CBAM (channel, then spatial attention; Woo et al., arXiv 1807.06521)
# between the two convs of its head.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    decode_head=dict(
        type='attnplug.AttnFCNHead', attn_cfg=dict(type='attnplug.CBAM')))
