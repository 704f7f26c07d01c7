# Recurrent criss-cross attention (Huang et al., arXiv 1811.11721; R=2) once on the c5 output,
# the map CCNet attends to; the FPN and the heads see the attended c5.
# Mask R-CNN R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CrissCrossAttention', recurrence=2),
                      stages=(False, False, False, True), position='after_stage')]))
