# Schedule check (README.md in the folder above): DANet at a quarter of ResNet-18's width
# (base_channels 16 instead of the benchmark's 32: stages 16/32/64/128 channels), the heads
# narrowed in proportion (pam_channels = channels / 8 as in the benchmark's DANet).
_base_ = ['../../../../configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    backbone=dict(base_channels=16, stem_channels=16),
    decode_head=dict(in_channels=128, channels=32, pam_channels=4),
    auxiliary_head=dict(in_channels=64, channels=16))
