# UPerNet Swin-T (ImageNet-1k pretrained) on ADE20K with CBAM after every Swin block of stages 2-4:
# mmseg's config with one change. Swin blocks are called as block(x, hw_shape) and give tokens
# (B, H*W, C); WithPlugins reads H x W from that call.
_base_ = ['mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='SwinTransformer',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stages.[1-3].blocks.*')]))
