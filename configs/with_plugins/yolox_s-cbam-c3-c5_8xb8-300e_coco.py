# YOLOX-s on COCO with CBAM on the outputs of CSPDarknet stages c3-c5 (stage2..stage4), the
# placement asked for in mmdet#9082: mmdet's config with one change to the backbone.
_base_ = ['mmdet::yolox/yolox_s_8xb8-300e_coco.py']
model = dict(backbone=dict(
    type='attnplug.WithPlugins', wraps='CSPDarknet',
    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='stage[2-4]')]))
