# UNet-S5-D16 + FCN for the bundled Cityscapes (data/generate.py), 300 CPU iterations: mmseg's
# UNet model base at a quarter of the width (base_channels 16), BN instead of SyncBN so it runs
# in one process, whole-image testing (128x256 is divisible by the downsample rate 16).
# The baseline of attention_unet/attn-unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.
_base_ = [
    'mmseg::_base_/models/fcn_unet_s5-d16.py',
    '../_base_/datasets/cityscapes_bundled.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/schedule_300iter.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
crop_size = (128, 256)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(base_channels=16, norm_cfg=norm_cfg),
    # decode head on the last decoder output (base_channels), auxiliary on the one before
    decode_head=dict(in_channels=16, channels=16, num_classes=19, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=32, channels=16, num_classes=19, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))
train_dataloader = dict(batch_size=4, num_workers=2)
randomness = dict(seed=0)
