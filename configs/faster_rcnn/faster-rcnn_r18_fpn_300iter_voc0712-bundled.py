# Faster R-CNN R-18-FPN trained from scratch on the bundled VOC 2007+2012 (data/generate.py), scored
# with mmdet's VOCMetric (11-point mAP on VOC2007 test): the VOC baseline of the plugin detectors.
# mmdet's own model, dataset and runtime bases, as in the COCO baseline next to this file; only the
# backbone depth, the FPN inputs, the 20 classes and the offline-friendly init change.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/voc0712_bundled.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/schedules/schedule_det_300iter.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_eval=False,  # from scratch: BN must learn its statistics
        init_cfg=None),  # no network here; mmdet's default is torchvision://resnet18
    neck=dict(in_channels=[64, 128, 256, 512]),
    roi_head=dict(bbox_head=dict(num_classes=20)))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
