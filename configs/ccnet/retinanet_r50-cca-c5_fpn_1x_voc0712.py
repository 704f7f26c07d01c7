# Recurrent criss-cross attention (Huang et al., arXiv 1811.11721; R=2) once on the c5 output,
# the map CCNet attends to; the FPN and the heads see the attended c5.
# RetinaNet R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CrissCrossAttention', recurrence=2),
                      stages=(False, False, False, True), position='after_stage')]))
