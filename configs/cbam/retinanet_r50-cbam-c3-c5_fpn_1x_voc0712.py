# CBAM (Woo et al., arXiv 1807.06521) at the end of every residual branch, before the sum, as in
# the paper's ResNet blocks.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# RetinaNet R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CBAM', reduction=16),
                      stages=(False, True, True, True), position='after_conv3')]))
