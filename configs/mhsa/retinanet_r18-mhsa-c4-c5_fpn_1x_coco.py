# Multi-head self-attention over all positions (8 heads, sine positions, zero-initialised output
# projection) after conv2 of every block of c4-c5, where mmdet's empirical-attention configs put
# their attention; BoTNet (arXiv 2101.11605) uses MHSA in c5 only.
# RetinaNet R-18-FPN (BasicBlock), COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::retinanet/retinanet_r18_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.MultiHeadSelfAttention2d', num_heads=8),
                      stages=(False, False, True, True), position='after_conv2')]))
