# Selective Kernel convs (Li et al., arXiv 1903.06586; M=2 branches, G=32, r=16 as in SKNet-50)
# as conv2 of every Bottleneck of c3-c5, through the dcn slot. torchvision's conv2 weights of those
# stages do not fit the grouped branches, so those convs start from scratch and the BN statistics
# that mmdet's recipe freezes (norm_eval=True) would not match them: here BN is trained and
# synchronised across GPUs, as in mmdet's *-syncbn-* configs (see README.md).
# Faster R-CNN R-50-FPN, COCO 2017, 1x: mmdet's recipe, only the backbone changes.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
model = dict(
    backbone=dict(
        type='attnplug.DetResNet',
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        dcn=dict(type='attnplug.SKConv', groups=32, num_branches=2, reduction=16),
        stage_with_dcn=(False, True, True, True)))
