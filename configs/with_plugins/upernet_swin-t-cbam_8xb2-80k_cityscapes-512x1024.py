# UPerNet Swin-T on Cityscapes with CBAM after every Swin block of stages 2-4. mmseg ships Swin
# UPerNet for ADE20K only; this is its ADE20K config on mmseg's Cityscapes dataset base and 80k
# schedule, 19 classes, 512x1024 crops, whole-image inference.
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
crop_size = (512, 1024)
checkpoint_file = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_tiny_patch4_window7_224_20220317-1cdeb081.pth'  # noqa
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='attnplug.WithPlugins', wraps='SwinTransformer',
        plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stages.[1-3].blocks.*')],
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file),
        embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
        use_abs_pos_embed=False, drop_path_rate=0.3, patch_norm=True),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=19),
    auxiliary_head=dict(in_channels=384, num_classes=19))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.00006, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False)
]
