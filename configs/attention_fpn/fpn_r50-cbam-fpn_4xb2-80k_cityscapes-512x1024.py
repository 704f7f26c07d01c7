# Semantic FPN on Cityscapes with CBAM (arXiv 1807.06521) on each of the four FPN outputs:
# mmseg's sem_fpn recipe with only the neck type and its attention options changed. The plain
# FPN keys are kept, so mmseg's FPN checkpoints load with only `neck.output_attns.*` missing.
_base_ = ['mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py']
model = dict(
    neck=dict(
        type='attnplug.AttentionFPN',
        attn_cfg=dict(type='attnplug.CBAM', reduction=16),
        attn_position='output'))
