# SegFormer MiT-B2 on ADE20K with CBAM after every transformer block of stages 2-4: mmseg's
# config with one change, the backbone's type moving into attnplug.WithPlugins (every other key of
# the base, pretrained init_cfg included, goes to MixVisionTransformer unchanged).
_base_ = ['mmseg::segformer/segformer_mit-b2_8xb2-160k_ade20k-512x512.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='MixVisionTransformer',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].1.*')]))
