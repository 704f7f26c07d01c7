# A short CPU schedule for the bundled COCO/VOC detection data: 300 iterations of SGD with
# mmdet's linear warm-up. Hooks and log_processor live in mmdet's default_runtime, so the
# configs set their iteration-based intervals (a base may not repeat a key of another base).
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=300, by_epoch=False, milestones=[240], gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
