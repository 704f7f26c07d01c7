# CBAM at the end of every residual branch of c2-c5 in the bundled-data Faster R-CNN R-18:
# one change to the backbone (mmdet's BasicBlock refuses plugins; attnplug's accepts them).
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CBAM'), position='after_conv2')]))
