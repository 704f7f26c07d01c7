# RTMDet on a from-scratch CSPNeXt at 1/3 of RTMDet-tiny's width (widen_factor 0.375 -> 0.125:
# stages 16/32/64/128 channels, "w16"; neck and head 32) for the bundled COCO: the baseline of the WithPlugins
# RTMDet configs. mmdet's rtmdet_tiny config with the bundled data scale (256x256, padded as
# RTMDet pads), an iteration-based 300-iteration AdamW schedule, and no pipeline switch (no Mosaic
# /MixUp to switch from); the EMA hook stays.
_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
norm_cfg = dict(type='BN')
model = dict(
    backbone=dict(widen_factor=0.125, norm_cfg=norm_cfg, init_cfg=None),  # no network here
    neck=dict(in_channels=[32, 64, 128], out_channels=32, norm_cfg=norm_cfg),
    bbox_head=dict(in_channels=32, feat_channels=32, norm_cfg=norm_cfg))
img_scale = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=4, num_workers=2, pin_memory=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=300, val_interval=300)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', eta_min=1e-4, begin=30, end=300, T_max=270, by_epoch=False),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True,
         priority=49)
]
randomness = dict(seed=0)
