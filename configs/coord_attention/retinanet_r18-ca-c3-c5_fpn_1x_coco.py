# Coordinate attention (Hou et al., arXiv 2103.02907) after the spatial 3x3 conv of every block,
# before the 1x1 projection: where the paper puts it in an inverted residual block.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# RetinaNet R-18-FPN (BasicBlock), COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::retinanet/retinanet_r18_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CoordAttention', reduction=32),
                      stages=(False, True, True, True), position='after_conv2')]))
