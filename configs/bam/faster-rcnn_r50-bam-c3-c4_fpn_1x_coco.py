# BAM (Park et al., arXiv 1807.06514; r=16, dilation 4, identity at init) at the end of a stage,
# where the paper puts it: "at each bottleneck of models where the downsampling of feature maps
# occurs".
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# Faster R-CNN R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.BAM'),
                      stages=(False, True, True, False), position='after_stage')]))
