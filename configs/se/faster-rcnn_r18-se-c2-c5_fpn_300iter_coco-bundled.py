# SE (Hu et al., arXiv 1709.01507) at the end of every residual branch, before the sum, as in
# SE-ResNet.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=16),
                      position='after_conv2')]))
