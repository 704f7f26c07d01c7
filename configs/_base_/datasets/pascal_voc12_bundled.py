# PASCAL VOC 2012 segmentation as written by data/generate.py: images of 160..200 px a side.
# A delta over mmseg's stock config: only the scales change (data_root stays
# 'data/VOCdevkit/VOC2012'). Images are resized to a 160 px short side (the stock 512 is for real
# VOC's ~500x375 images); the 200 px crop keeps at least half of each side after RandomResize
# (ratio <= 2), and with it the cue at the image centre (data/README.md).
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']

crop_size = (200, 200)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(640, 160),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 160), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
