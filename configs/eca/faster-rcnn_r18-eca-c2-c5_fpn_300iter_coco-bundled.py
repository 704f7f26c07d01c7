# ECA (Wang et al., arXiv 1910.03151; 1D kernel size adaptive to the channel count) at the end of
# every residual branch, where ECA-Net puts it.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.ECA'), position='after_conv2')]))
