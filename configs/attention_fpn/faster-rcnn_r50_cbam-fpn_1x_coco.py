# Faster R-CNN (R-50-FPN, 1x) on COCO with CBAM (arXiv 1807.06521) on each of the four FPN
# outputs built from backbone levels (the max-pooled P6 is taken from the attended P5):
# mmdet's recipe with only the neck type and its attention options changed.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    neck=dict(
        type='attnplug.AttentionFPN',
        attn_cfg=dict(type='attnplug.CBAM', reduction=16),
        attn_position='output'))
