# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the BAM authors' ImageNet
# BAM-ResNet-50 (github.com/Jongchan/attention-module, "ResNet50+BAM"), converted with
#   python tools/model_converters/bam2attnplug.py BAM_R50_CHECKPOINT.pth.tar \
#       checkpoints/bam-r50_in1k_attnplug.pth
# BAM sits after stages 1-3 (c2-c4), in the authors' variant (F * (1 + sigmoid(Mc * Ms)), no
# final BNs); the one after the frozen c2 is pretrained. See docs/pretrained.md.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        plugins=[dict(cfg=dict(type='attnplug.BAM', reduction=16, dilation=4, num_dilated_convs=2,
                               variant='authors'),
                      stages=(True, True, True, False), position='after_stage')],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/bam-r50_in1k_attnplug.pth')))
