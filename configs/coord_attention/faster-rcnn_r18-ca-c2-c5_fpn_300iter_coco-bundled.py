# Coordinate attention (Hou et al., arXiv 2103.02907) after the spatial 3x3 conv of every block,
# before the 1x1 projection: where the paper puts it in an inverted residual block.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CoordAttention', reduction=32),
                      position='after_conv2')]))
