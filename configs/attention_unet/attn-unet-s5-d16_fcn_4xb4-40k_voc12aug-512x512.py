# Attention U-Net on PASCAL VOC 2012 aug, 512x512: the UNet baseline with gated skips.
_base_ = ['../unet/unet-s5-d16_fcn_4xb4-40k_voc12aug-512x512.py']
model = dict(
    backbone=dict(
        type='attnplug.AttentionUNet',
        attention_gates=True,
        gate_cfg=dict(hidden_channels=None)))
