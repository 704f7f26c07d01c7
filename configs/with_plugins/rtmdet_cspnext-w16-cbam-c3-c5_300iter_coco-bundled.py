# The bundled RTMDet baseline with CBAM on the outputs of CSPNeXt stages c3-c5 (stage2..stage4,
# the features the neck takes), injected by attnplug.WithPlugins.
_base_ = ['../rtmdet/rtmdet_cspnext-w16_300iter_coco-bundled.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='CSPNeXt',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stage[2-4]')]))
