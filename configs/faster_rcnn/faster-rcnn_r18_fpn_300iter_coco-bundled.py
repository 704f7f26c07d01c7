# Faster R-CNN R-18-FPN trained from scratch on the bundled COCO (data/generate.py): the baseline
# of the plugin detectors. mmdet's own model, dataset and runtime bases; the backbone depth,
# the FPN inputs, a narrower FPN and heads, and the offline-friendly init change.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection_bundled.py',
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
    # Narrow FPN and heads and fewer sampled proposals: the bundled images hold a few objects
    # each, and this cuts a training step on a 2-core CPU from 3.5 s to 0.6 s. Put mmdet's
    # 256 channels, 1024-wide fcs, 2000/1000 proposals and 512 RoIs back for real data.
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))))
train_dataloader = dict(batch_size=2, num_workers=2)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
