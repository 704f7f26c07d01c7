# Non-local blocks (Wang et al., arXiv 1711.07971; embedded Gaussian, zero-initialised W_z)
# after conv2 of every block of c4-c5, the placement of mmdet's empirical-attention configs.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.NonLocal2d'),
                      stages=(False, False, True, True), position='after_conv2')]))
