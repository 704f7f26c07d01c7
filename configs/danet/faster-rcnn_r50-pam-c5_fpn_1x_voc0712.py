# DANet's position attention module (Fu et al., arXiv 1809.02983; query/key C/8) once on the c5
# output, the map DANet attends to; the FPN and the heads see the attended c5.
# Faster R-CNN R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.PositionAttention'),
                      stages=(False, False, False, True), position='after_stage')]))
