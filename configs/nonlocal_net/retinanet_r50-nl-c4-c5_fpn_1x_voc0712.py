# Non-local blocks (Wang et al., arXiv 1711.07971; embedded Gaussian, zero-initialised W_z)
# after conv2 of every block of c4-c5, the placement of mmdet's empirical-attention configs.
# RetinaNet R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.NonLocal2d'),
                      stages=(False, False, True, True), position='after_conv2')]))
