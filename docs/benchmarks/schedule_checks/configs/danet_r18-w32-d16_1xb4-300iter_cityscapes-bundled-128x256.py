# Schedule check (README.md in the folder above): DANet at output stride 16 instead of 8.
_base_ = ['../../../../configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)))
