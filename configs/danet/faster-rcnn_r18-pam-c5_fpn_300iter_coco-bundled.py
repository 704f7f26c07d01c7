# DANet's position attention module (Fu et al., arXiv 1809.02983; query/key C/8) once on the c5
# output, the map DANet attends to; the FPN and the heads see the attended c5.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.PositionAttention'),
                      stages=(False, False, False, True), position='after_stage')]))
