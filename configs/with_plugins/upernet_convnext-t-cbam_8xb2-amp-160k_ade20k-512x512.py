# UPerNet ConvNeXt-T (mmpretrain's ConvNeXt, as mmseg's config uses it; needs the 'pretrain' extra,
# mmpretrain 1.2.0) on ADE20K with CBAM after every ConvNeXt block of stages 2-4.
_base_ = ['mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='mmpretrain.ConvNeXt',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stages.[1-3].*')]))
