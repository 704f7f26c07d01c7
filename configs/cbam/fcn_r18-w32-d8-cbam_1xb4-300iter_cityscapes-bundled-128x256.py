# The demo (tools/demo.sh): the FCN baseline with CBAM at the end of every residual branch of
# stages c2-c5. One change to the backbone: attnplug's ResNetV1c (same weights as mmseg's) takes
# `plugins=` in BasicBlock too, which mmseg's ResNet-18/34 refuse.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    backbone=dict(
        type='attnplug.ResNetV1c',
        plugins=[dict(cfg=dict(type='attnplug.CBAM'), position='after_conv2')]))
