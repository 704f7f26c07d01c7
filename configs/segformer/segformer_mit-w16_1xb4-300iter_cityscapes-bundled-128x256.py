# SegFormer on a from-scratch MiT at 1/2 of MiT-B0's width for the bundled Cityscapes: the baseline
# of the WithPlugins SegFormer configs trained on the same schedule. mmseg's own segformer_mit-b0
# model base with embed_dims 16 instead of 32 (stages 16/32/80/128 channels) and a 64-channel
# head, BN instead of SyncBN so it also runs on one CPU process.
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    '../_base_/datasets/cityscapes_bundled.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/schedule_300iter.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
crop_size = (128, 256)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(embed_dims=16, drop_path_rate=0.0),  # no pretrained weights offline
    decode_head=dict(in_channels=[16, 32, 80, 128], channels=64, num_classes=19,
                     norm_cfg=norm_cfg))
train_dataloader = dict(batch_size=4, num_workers=2)
randomness = dict(seed=0)
