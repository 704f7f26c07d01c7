# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the SENet authors' ImageNet
# SE-ResNet-50 (Caffe, github.com/hujie-frank/SENet), in the PyTorch port of Cadene's
# pretrainedmodels (se_resnet50-ce0d4300.pth), converted with
#   python tools/model_converters/se2attnplug.py se_resnet50-ce0d4300.pth \
#       checkpoints/se-r50_in1k_attnplug.pth
# The Caffe models stride in the first 1x1 conv of a block (style='caffe'). Their stem max-pool
# is ceil-mode without padding; mmcv's has padding=1 (docs/pretrained.md).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        style='caffe',
        plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=16),
                      position='after_conv3')],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/se-r50_in1k_attnplug.pth')))
