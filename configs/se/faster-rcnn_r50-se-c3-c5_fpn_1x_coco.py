# SE (Hu et al., arXiv 1709.01507) at the end of every residual branch, before the sum, as in
# SE-ResNet.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# Faster R-CNN R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=16),
                      stages=(False, True, True, True), position='after_conv3')]))
