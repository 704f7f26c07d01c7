# CCNet's head on the FCN baseline of the bundled Cityscapes (from-scratch R-18-D8 at half width,
# BN, same schedule and seed): the baseline's two-conv FCN head with recurrent criss-cross
# attention (R = 2, as mmseg's CCNet configs) between its convs.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(decode_head=dict(type='attnplug.CCHead', recurrence=2))
