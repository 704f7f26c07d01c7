# RTMDet-s on COCO with CBAM on the outputs of CSPNeXt stages c3-c5 (stage2..stage4, the
# features the neck takes): mmdet's config with one change to the backbone.
_base_ = ['mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='CSPNeXt',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stage[2-4]')]))
