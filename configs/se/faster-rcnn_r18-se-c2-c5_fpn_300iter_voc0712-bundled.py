# SE (Hu et al., arXiv 1709.01507) at the end of every residual branch of c2-c5 in the bundled-VOC
# Faster R-CNN R-18, scored with mmdet's VOCMetric: one change to the backbone.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_voc0712-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=16),
                      position='after_conv2')]))
