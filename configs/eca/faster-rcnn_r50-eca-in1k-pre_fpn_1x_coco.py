# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the ECA-Net authors' ImageNet
# ECA-ResNet-50 (eca_resnet50_k3557, github.com/BangguWu/ECANet), converted with
#   python tools/model_converters/eca2attnplug.py ECA_R50_K3557.pth.tar \
#       checkpoints/eca-r50-k3557_in1k_attnplug.pth
# ECA sits in every block of every stage, with the released per-stage kernels (3, 5, 5, 7); the
# c2 plugins are pretrained, so mmdet's frozen c2 keeps them as trained (the backbone's warning
# about frozen plugins concerns randomly initialised ones). See docs/pretrained.md.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[
            dict(cfg=dict(type='attnplug.ECA', kernel_size=3), stages=(True, False, False, False),
                 position='after_conv3'),
            dict(cfg=dict(type='attnplug.ECA', kernel_size=5), stages=(False, True, True, False),
                 position='after_conv3'),
            dict(cfg=dict(type='attnplug.ECA', kernel_size=7), stages=(False, False, False, True),
                 position='after_conv3'),
        ],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/eca-r50-k3557_in1k_attnplug.pth')))
