# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the SimAM authors' ImageNet
# SimAM-ResNet-50 (github.com/ZjjConan/SimAM, lambda = 0.1 as released), converted with
#   python tools/model_converters/simam2attnplug.py SIMAM_R50.pth.tar \
#       checkpoints/simam-r50_in1k_attnplug.pth
# The authors run SimAM between each block's 3x3 conv and its BN (conv2 = Sequential(conv2,
# simam)), where ResNet has no plugin slot: attnplug.WithPlugins runs it on conv2's output.
# The authors' own detection configs (mmdetection/configs/faster_rcnn/
# faster_rcnn_r50simam_fpn_1x_coco.py in their repository) train this model. See docs/pretrained.md.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.WithPlugins', wraps='ResNet',
        plugins=[dict(cfg=dict(type='attnplug.SimAM', e_lambda=0.1), after='layer*.*.conv2')],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/simam-r50_in1k_attnplug.pth')))
