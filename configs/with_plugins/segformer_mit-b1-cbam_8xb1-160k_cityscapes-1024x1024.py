# SegFormer MiT-B1 on Cityscapes with CBAM after every transformer block of stages 2-4: mmseg's
# config with one change, the backbone's type moving into attnplug.WithPlugins.
_base_ = ['mmseg::segformer/segformer_mit-b1_8xb1-160k_cityscapes-1024x1024.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='MixVisionTransformer',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].1.*')]))
