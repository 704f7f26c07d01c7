# DANet's head on the FCN baseline of the bundled Cityscapes (from-scratch R-18-D8 at half width,
# BN, same schedule and seed). DAHead is not an FCNHead, so the head is replaced as a whole; its
# shared settings are the baseline's, and pam_channels = channels / 8 as in mmseg's 512 / 64.
_base_ = ['../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='attnplug.DAHead',
        in_channels=256,
        in_index=3,
        channels=64,
        pam_channels=8,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
