# Recurrent criss-cross attention (Huang et al., arXiv 1811.11721; R=2) once on the c5 output,
# the map CCNet attends to; the FPN and the heads see the attended c5.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CrissCrossAttention', recurrence=2),
                      stages=(False, False, False, True), position='after_stage')]))
