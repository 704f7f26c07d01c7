# Attention U-Net (arXiv 1804.03999) on mmseg's UNet-S5-D16 + FCN Cityscapes recipe: the only
# change is the backbone, which gates all four skip connections (hidden_channels None: half of each
# skip's channels). Same keys as mmseg's UNet plus `backbone.gates.<level>.*`.
_base_ = ['mmseg::unet/unet-s5-d16_fcn_4xb4-160k_cityscapes-512x1024.py']
model = dict(
    backbone=dict(
        type='attnplug.AttentionUNet',
        attention_gates=True,
        gate_cfg=dict(hidden_channels=None)))
