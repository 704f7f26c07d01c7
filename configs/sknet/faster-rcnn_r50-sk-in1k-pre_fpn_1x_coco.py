# Faster R-CNN R-50-FPN on COCO (mmdet's 1x recipe) starting from the SKNet authors' PyTorch
# ImageNet SK-ResNet-50 (github.com/implus/PytorchInsight, "SK-ResNet50*"), converted with
#   python tools/model_converters/sk2attnplug.py SK_R50_CHECKPOINT.pth.tar \
#       checkpoints/sk-r50_in1k_attnplug.pth
# Every Bottleneck's conv2 is an SK conv with the release's branches (3x3 with 1 group and 3x3
# with 32 groups, both undilated; fuse width planes // 16). mmdet's recipe keeps BN statistics
# frozen (norm_eval=True), which keeps the identity bn2 the converter writes after the SK conv an
# identity (docs/pretrained.md).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        dcn=dict(type='attnplug.SKConv', branch_cfgs=[dict(groups=1, dilation=1),
                                                      dict(groups=32, dilation=1)],
                 reduction=16, min_hidden_channels=1),
        stage_with_dcn=(True, True, True, True),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/sk-r50_in1k_attnplug.pth')))
