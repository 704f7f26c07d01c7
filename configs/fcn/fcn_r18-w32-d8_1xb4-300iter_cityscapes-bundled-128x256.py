# FCN on a from-scratch ResNet-18-D8 at half width for the bundled Cityscapes: the baseline of the
# attention configs trained on the same schedule. mmseg's own models/fcn_r50-d8 base, resized like
# mmseg's fcn_r18-d8 config, with BN instead of SyncBN so it also runs on one CPU process.
# "w32": base_channels 32 instead of ResNet-18's 64 (stages 32/64/128/256 channels), heads
# narrowed in proportion; 1.7 GMAC per 128x256 image instead of 6.9 (mmengine FlopAnalyzer),
# so 300 iterations take a few minutes on a 2-core CPU.
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    '../_base_/datasets/cityscapes_bundled.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/schedule_300iter.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
crop_size = (128, 256)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # no network here; put 'open-mmlab://resnet18_v1c' back for real data
    backbone=dict(depth=18, base_channels=32, stem_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, norm_cfg=norm_cfg))
train_dataloader = dict(batch_size=4, num_workers=2)
randomness = dict(seed=0)
