# ECA (Wang et al., arXiv 1910.03151; 1D kernel size adaptive to the channel count) at the end of
# every residual branch, where ECA-Net puts it.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# RetinaNet R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.ECA'),
                      stages=(False, True, True, True), position='after_conv3')]))
