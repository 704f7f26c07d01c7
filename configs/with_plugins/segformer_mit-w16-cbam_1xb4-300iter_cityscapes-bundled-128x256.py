# The bundled SegFormer baseline with CBAM after every MiT block of stages 2-4, injected by
# attnplug.WithPlugins: the same one-line delta as the full-size SegFormer configs.
_base_ = ['../segformer/segformer_mit-w16_1xb4-300iter_cityscapes-bundled-128x256.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='MixVisionTransformer',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].1.*')]))
