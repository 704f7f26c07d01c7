# Cityscapes as written by data/generate.py: 128x256 images, 1/8 of the real 1024x2048.
# A delta over mmseg's stock config: only the scales change (data_root stays 'data/cityscapes/').
# The crop is the whole image, not half of it as in the stock config, so that every crop after
# RandomResize (ratio <= 2) keeps at least half of each side and with it the cue at the image centre
# (data/README.md). Models need data_preprocessor=dict(size=crop_size).
_base_ = ['mmseg::_base_/datasets/cityscapes.py']

crop_size = (128, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(256, 128),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
