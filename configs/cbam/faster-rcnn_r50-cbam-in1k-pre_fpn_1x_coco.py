# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the CBAM authors' ImageNet
# CBAM-ResNet-50 (github.com/Jongchan/attention-module, "ResNet50+CBAM"), converted with
#   python tools/model_converters/cbam2attnplug.py CBAM_R50_CHECKPOINT.pth.tar \
#       checkpoints/cbam-r50_in1k_attnplug.pth
# CBAM sits in every block of every stage, in the authors' variant (a BN after the 7x7 spatial
# conv, pooled channels ordered (max, mean)); the c2 plugins are pretrained, so mmdet's frozen c2
# keeps them as trained. See docs/pretrained.md.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.CBAM', reduction=16, variant='authors'),
                      position='after_conv3')],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/cbam-r50_in1k_attnplug.pth')))
