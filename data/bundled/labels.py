"""The datasets this package writes, and the label sets of the real ones it imitates."""

DATASETS = ('cityscapes', 'voc', 'coco')
DATASET_DIRS = {'cityscapes': 'cityscapes', 'voc': 'VOCdevkit', 'coco': 'coco'}

# ----------------------------------------------------------------------------------------------
# Label sets of the real datasets
# ----------------------------------------------------------------------------------------------
# Cityscapes (cityscapesscripts/helpers/labels.py): trainId -> (name, id, color)
CITYSCAPES_LABELS = (
    ('road', 7, (128, 64, 128)), ('sidewalk', 8, (244, 35, 232)), ('building', 11, (70, 70, 70)),
    ('wall', 12, (102, 102, 156)), ('fence', 13, (190, 153, 153)), ('pole', 17, (153, 153, 153)),
    ('traffic light', 19, (250, 170, 30)), ('traffic sign', 20, (220, 220, 0)),
    ('vegetation', 21, (107, 142, 35)), ('terrain', 22, (152, 251, 152)), ('sky', 23, (70, 130, 180)),
    ('person', 24, (220, 20, 60)), ('rider', 25, (255, 0, 0)), ('car', 26, (0, 0, 142)),
    ('truck', 27, (0, 0, 70)), ('bus', 28, (0, 60, 100)), ('train', 31, (0, 80, 100)),
    ('motorcycle', 32, (0, 0, 230)), ('bicycle', 33, (119, 11, 32)))
CITYSCAPES_TRAIN_ID = {name: i for i, (name, _, _) in enumerate(CITYSCAPES_LABELS)}
CITYSCAPES_EGO_VEHICLE_ID = 1  # labelId of 'ego vehicle'; its trainId is 255 (ignored)
CITYSCAPES_CITIES = {'train': ('aachen', 'bochum', 'bremen'), 'val': ('frankfurt', 'lindau', 'munster')}
CITYSCAPES_SIZE = (128, 256)  # (h, w): 1024x2048 / 8, the real aspect ratio

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
               'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
VOC_SIGN_CLASS = 'tvmonitor'

# COCO 2017: (id, name, supercategory); ids run 1..90 with ten gaps
COCO_CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'), (13, 'stop sign', 'outdoor'),
    (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'), (16, 'bird', 'animal'),
    (17, 'cat', 'animal'), (18, 'dog', 'animal'), (19, 'horse', 'animal'), (20, 'sheep', 'animal'),
    (21, 'cow', 'animal'), (22, 'elephant', 'animal'), (23, 'bear', 'animal'), (24, 'zebra', 'animal'),
    (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'), (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'), (33, 'suitcase', 'accessory'),
    (34, 'frisbee', 'sports'), (35, 'skis', 'sports'), (36, 'snowboard', 'sports'),
    (37, 'sports ball', 'sports'), (38, 'kite', 'sports'), (39, 'baseball bat', 'sports'),
    (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'), (42, 'surfboard', 'sports'),
    (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'), (46, 'wine glass', 'kitchen'),
    (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'), (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'),
    (51, 'bowl', 'kitchen'), (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'), (58, 'hot dog', 'food'),
    (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'), (62, 'chair', 'furniture'),
    (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'), (65, 'bed', 'furniture'),
    (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'), (72, 'tv', 'electronic'),
    (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'), (75, 'remote', 'electronic'),
    (76, 'keyboard', 'electronic'), (77, 'cell phone', 'electronic'), (78, 'microwave', 'appliance'),
    (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'), (81, 'sink', 'appliance'),
    (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'), (85, 'clock', 'indoor'),
    (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'), (88, 'teddy bear', 'indoor'),
    (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor'))
COCO_ID = {name: cid for cid, name, _ in COCO_CATEGORIES}
COCO_SIGN_CLASS = 'tv'
