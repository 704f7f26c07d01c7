# The non-local head on the FCN baseline of the bundled Cityscapes (from-scratch R-18-D8 at half
# width, BN, same schedule and seed): the baseline's two-conv FCN head with an embedded-Gaussian
# non-local block (reduction 2, scaled, as mmseg's NonLocal configs) between its convs.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    decode_head=dict(
        type='attnplug.NLHead', reduction=2, use_scale=True, mode='embedded_gaussian'))
