# Attention U-Net on the bundled Cityscapes: the small UNet baseline with gated skips.
_base_ = ['../unet/unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    backbone=dict(
        type='attnplug.AttentionUNet',
        attention_gates=True,
        gate_cfg=dict(hidden_channels=None)))
