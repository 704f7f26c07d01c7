# ECA (Wang et al., arXiv 1910.03151; 1D kernel size adaptive to the channel count) at the end of
# every residual branch, where ECA-Net puts it.
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# Mask R-CNN R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.ECA'),
                      stages=(False, True, True, True), position='after_conv3')]))
