# Non-local blocks (Wang et al., arXiv 1711.07971; embedded Gaussian, zero-initialised W_z)
# after conv2 of every block of c4-c5, the placement of mmdet's empirical-attention configs.
# RetinaNet R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.NonLocal2d'),
                      stages=(False, False, True, True), position='after_conv2')]))
