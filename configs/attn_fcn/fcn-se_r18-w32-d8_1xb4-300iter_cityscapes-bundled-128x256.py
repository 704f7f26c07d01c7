# The FCN baseline of the bundled Cityscapes (from-scratch R-18-D8 at half width, BN, same
# schedule and seed) with squeeze-and-excitation (Hu et al., arXiv 1709.01507) between the two
# convs of its head.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    decode_head=dict(
        type='attnplug.AttnFCNHead', attn_cfg=dict(type='attnplug.SqueezeExcitation')))
