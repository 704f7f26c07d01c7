# Multi-head self-attention over all positions (8 heads, sine positions, zero-initialised output
# projection) after conv2 of every block of c4-c5, where mmdet's empirical-attention configs put
# their attention; BoTNet (arXiv 2101.11605) uses MHSA in c5 only.
# The bundled-data Faster R-CNN R-18 (trained from scratch, nothing frozen), with one change
# to the backbone: mmdet's BasicBlock refuses plugins, attnplug's takes them.
_base_ = ['../faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.MultiHeadSelfAttention2d', num_heads=8),
                      stages=(False, False, True, True), position='after_conv2')]))
