# Faster R-CNN R-18-FPN for the bundled COCO- and VOC-layout data (data/generate.py), trained
# from scratch: mmdet's own faster-rcnn_r50_fpn model with ResNet-18, nothing frozen, and a
# narrower FPN and heads. Shared by the COCO and VOC baselines in configs/faster_rcnn/.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py']
model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_eval=False,  # from scratch: BN must learn its statistics
        init_cfg=None),  # no network here; mmdet's default is torchvision://resnet18
    # Narrow FPN and heads and fewer sampled proposals: the bundled images hold a few objects
    # each, and this cuts a training step on a 2-core CPU from 3.5 s to 0.6 s. Put mmdet's
    # 256 channels, 1024-wide fcs, 2000/1000 proposals and 512 RoIs back for real data.
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))))
