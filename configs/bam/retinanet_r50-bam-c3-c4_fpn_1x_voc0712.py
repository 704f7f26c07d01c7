# BAM (Park et al., arXiv 1807.06514; r=16, dilation 4, identity at init) at the end of a stage,
# where the paper puts it: "at each bottleneck of models where the downsampling of feature maps
# occurs".
# c2 stays out: mmdet's recipe freezes it (frozen_stages=1), and with it any plugin there, at
# its random initialisation.
# RetinaNet R-50-FPN, VOC 07+12, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.BAM'),
                      stages=(False, True, True, False), position='after_stage')]))
