# mmseg's FCN R-50-D8 (Cityscapes, 512x1024, 40k) with Selective Kernel convolutions (SKNet,
# arXiv 1903.06586) as the 3x3 conv2 of every Bottleneck in stages c3-c5: two branches
# (dilation d and 2d of each stage's dilation d), 32 groups as in the paper's SKNet-50.
# The pretrained ResNet-50 conv2 weights do not fit the grouped branches: they are not loaded
# (the loader reports them), everything else is (see README.md).
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        type='attnplug.ResNetV1c',
        dcn=dict(type='attnplug.SKConv', groups=32, num_branches=2, reduction=16,
                 norm_cfg=norm_cfg),
        stage_with_dcn=(False, True, True, True)))
