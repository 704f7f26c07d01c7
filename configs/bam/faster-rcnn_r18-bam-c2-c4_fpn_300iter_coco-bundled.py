# BAM (Park et al., arXiv 1807.06514; r=16, dilation 4, identity at init) at the end of a stage,
# where the paper puts it: "at each bottleneck of models where the downsampling of feature maps
# occurs".
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.BAM'),
                      stages=(True, True, True, False), position='after_stage')]))
