# Coordinate attention (Hou et al., arXiv 2103.02907) after the spatial 3x3 conv of every block,
# before the 1x1 projection: where the paper puts it in an inverted residual block.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# Faster R-CNN R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CoordAttention', reduction=32),
                      stages=(False, True, True, True), position='after_conv2')]))
