# The demo model (tools/demo.sh): the CBAM bundled config at half the ResNet-18 width
# (base_channels 32): 1.7 GMAC per 128x256 image instead of 6.9 (mmengine FlopAnalyzer), so its
# 300 iterations take minutes on a 2-core CPU. Heads narrowed in proportion.
_base_ = ['./fcn_r18-d8-cbam_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(
    backbone=dict(base_channels=32, stem_channels=32),
    decode_head=dict(in_channels=256, channels=64),
    auxiliary_head=dict(in_channels=128, channels=32))
