# Mask R-CNN Swin-T on COCO with CBAM after every Swin block of stages c3-c5 (mmdet#10590):
# mmdet's config with one change to the backbone.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='SwinTransformer',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stages.[1-3].blocks.*')]))
