# Faster R-CNN R-18-FPN trained from scratch on the bundled VOC 2007+2012 (data/generate.py), scored
# with mmdet's VOCMetric (11-point mAP on VOC2007 test): the VOC baseline of the plugin detectors.
# mmdet's own model (made ResNet-18 with a narrower FPN and heads in
# ../_base_/models/faster-rcnn_r18_fpn_bundled.py, shared with the COCO baseline), dataset and
# runtime bases; this file adds the 20 classes.
_base_ = [
    '../_base_/models/faster-rcnn_r18_fpn_bundled.py',
    '../_base_/datasets/voc0712_bundled.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/schedules/schedule_det_300iter.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
