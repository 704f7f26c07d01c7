# mmseg's FCN R-50-D8 (VOC 2012 + aug, 512x512, 20k) with Selective Kernel convolutions as
# conv2 of every Bottleneck in stages c3-c5 (see the Cityscapes config and README.md).
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        type='attnplug.ResNetV1c',
        dcn=dict(type='attnplug.SKConv', groups=32, num_branches=2, reduction=16,
                 norm_cfg=norm_cfg),
        stage_with_dcn=(False, True, True, True)))
