"""Detection data: broken COCO annotations reported with their image ids and never crashing
mid-epoch (``attnplug.CheckedCocoDataset``), the stock behaviour it replaces, and VOC and COCO
runs of the stock mmdet tools on the bundled data.
"""
import glob
import json
import math
import textwrap

import numpy as np
import pytest
from mmengine.registry import DefaultScope

from attnplug.datasets import (CheckedCocoDataset, CocoAnnotationError, CocoAnnotationWarning,
                               check_coco_annotations)
from attnplug.testing import stock_tool

CATEGORIES = [dict(id=1, name='person'), dict(id=3, name='car')]
CLASSES = ('person', 'car')


def _img(i, w=60, h=40, name=None):
    return dict(id=i, file_name=name or f'{i:04d}.jpg', width=w, height=h)


def _ann(i, img, bbox, cat=1, **kw):
    ann = dict(id=i, image_id=img, category_id=cat, bbox=bbox, area=bbox[2] * bbox[3],
               iscrowd=0, segmentation=[[bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1],
                                         bbox[0] + bbox[2], bbox[1] + bbox[3]]])
    ann.update(kw)
    return ann


def broken_coco():
    """Three good images, one missing file; one fault of each kind, each on its own annotation."""
    images = [_img(1), _img(2), _img(3), _img(4, name='missing.jpg')]
    anns = [
        _ann(10, 1, [5, 5, 10, 10]),  # good
        _ann(11, 1, [5, 5, 10, 10], cat=999),  # unknown category
        _ann(12, 2, [100, 100, 10, 10]),  # entirely outside the 60x40 image
        _ann(13, 2, [50, 30, 20, 20]),  # 10 px beyond the border: clipped
        _ann(14, 7, [5, 5, 10, 10]),  # image 7 does not exist
        _ann(15, 4, [5, 5, 10, 10]),  # its image file is missing
        _ann(16, 3, [5, 5, 10, float('nan')]),  # NaN
        _ann(17, 3, [5, 5, 0.5, 10]),  # narrower than 1 px
        _ann(18, 3, [5, 5, 10, 10], area=0),  # area 0
        _ann(19, 3, [20, 5, 10, 10], segmentation=[]),  # no mask for a mask pipeline
        _ann(20, 3, [5, 20, 10, 10], segmentation=[[1, 2, 3, 4]]),  # polygon of 2 points
        _ann(21, 3, [30, 20, 10, 10]),  # good
    ]
    anns.append({k: v for k, v in _ann(22, 1, [5, 5, 10, 10]).items() if k != 'area'})
    return dict(images=images, annotations=anns, categories=CATEGORIES)


EXPECTED = {  # ann id -> (image id, kind, action)
    11: (1, 'unknown category_id', 'annotation dropped'),
    12: (2, 'box outside the image', 'annotation dropped'),
    13: (2, 'box partly outside the image', 'box clipped to the image'),
    14: (7, 'unknown image_id', 'annotation dropped'),
    16: (3, 'bbox has a non-finite or non-numeric value', 'annotation dropped'),
    17: (3, 'box smaller than the minimum size', 'annotation dropped'),
    18: (3, 'area not positive', 'annotation dropped'),
    19: (3, 'no segmentation', 'annotation dropped'),
    20: (3, 'no valid polygon', 'annotation dropped'),
    22: (1, 'no area', "'area' set to the box area"),
}


def write_dataset(root, coco):
    """``root/img/<file>`` (black JPEGs, except the missing one) and ``root/ann.json``."""
    import cv2
    (root / 'img').mkdir(parents=True, exist_ok=True)
    for img in coco['images']:
        if img['file_name'] != 'missing.jpg':
            cv2.imwrite(str(root / 'img' / img['file_name']),
                        np.full((img['height'], img['width'], 3), 128, np.uint8))
    (root / 'ann.json').write_text(json.dumps(coco))
    return root


def train_pipeline(with_mask):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask),
        dict(type='Resize', scale=(96, 64), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs'),
    ]


def build_dataset(root, type_='attnplug.CheckedCocoDataset', with_mask=True, **kw):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(type=type_, data_root=str(root), ann_file='ann.json', data_prefix=dict(img='img/'),
               metainfo=dict(classes=CLASSES), pipeline=train_pipeline(with_mask),
               filter_cfg=dict(filter_empty_gt=True, min_size=1), **kw)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


# ------------------------------------------------------------------ the pure checks
def test_every_fault_is_reported_with_its_image_and_annotation_ids():
    cleaned, problems = check_coco_annotations(
        broken_coco(), require_masks=True, image_exists=lambda name: name != 'missing.jpg')
    by_ann = {p.ann_id: p for p in problems if p.ann_id is not None}
    assert set(by_ann) == set(EXPECTED)
    for ann_id, (img_id, kind, action) in EXPECTED.items():
        p = by_ann[ann_id]
        assert (p.image_id, p.kind, p.action) == (img_id, kind, action), p
        assert f'image {img_id}, annotation {ann_id}:' in str(p)
    missing = [p for p in problems if p.ann_id is None]
    assert [(p.image_id, p.kind) for p in missing] == [(4, 'image file not found')]
    # what is left: the good annotations, the clipped one and the one given an area
    kept = {a['id']: a for a in cleaned['annotations']}
    assert set(kept) == {10, 13, 21, 22}
    assert kept[13]['bbox'] == [50, 30, 10, 10]
    assert kept[22]['area'] == 100
    assert [img['id'] for img in cleaned['images']] == [1, 2, 3]


def test_a_clean_file_is_returned_unchanged():
    coco = dict(images=[_img(1)], annotations=[_ann(1, 1, [0, 0, 60, 40]),
                                               _ann(2, 1, [10.5, 3.25, 20, 30.5], cat=3)],
                categories=CATEGORIES)
    cleaned, problems = check_coco_annotations(coco, require_masks=True)
    assert problems == []
    assert cleaned['annotations'] == coco['annotations']
    assert cleaned['annotations'][0] is coco['annotations'][0]  # not copied


def test_border_tolerance_and_min_size():
    coco = dict(images=[_img(1)], annotations=[_ann(1, 1, [-0.5, 0, 60.8, 40]),
                                               _ann(2, 1, [59.5, 0, 1.2, 10])],
                categories=CATEGORIES)
    _, problems = check_coco_annotations(coco)
    assert problems == []  # up to 1 px of overshoot is rounding, not a fault
    cleaned, problems = check_coco_annotations(coco, border_tolerance=0.0)
    assert [(p.ann_id, p.action) for p in problems] == [
        (1, 'box clipped to the image'), (2, 'annotation dropped')]  # 0.5 px left inside
    assert cleaned['annotations'][0]['bbox'] == [0, 0, 60, 40]


def test_repeated_ids_and_malformed_entries():
    coco = dict(images=[_img(1), _img(1), _img(2, w=0)],
                annotations=[_ann(5, 1, [1, 1, 5, 5]), _ann(5, 1, [2, 2, 5, 5]),
                             dict(image_id=1, category_id=1, bbox=[1, 1, 5, 5], area=25),
                             dict(_ann(6, 1, [1, 1, 5, 5]), bbox=[1, 1, 5]), 'oops'],
                categories=CATEGORIES)
    cleaned, problems = check_coco_annotations(coco)
    kinds = [(p.image_id, p.ann_id, p.kind) for p in problems]
    assert kinds == [(1, None, 'repeated image id'),
                     (2, None, 'image size missing or not positive'),
                     (1, 5, 'repeated annotation id'), (1, None, 'annotation without an id'),
                     (1, 6, 'bbox is not [x, y, w, h]'),
                     (None, None, 'annotation entry is not an object')]
    assert [a['id'] for a in cleaned['annotations']] == [5]


def test_masks_are_only_checked_when_required():
    coco = dict(images=[_img(1)], annotations=[_ann(1, 1, [1, 1, 5, 5], segmentation=[])],
                categories=CATEGORIES)
    assert check_coco_annotations(coco)[1] == []
    assert [p.kind for p in check_coco_annotations(coco, require_masks=True)[1]] == [
        'no segmentation']
    rle = dict(size=[40, 60], counts='abc')
    coco['annotations'][0]['segmentation'] = rle
    assert check_coco_annotations(coco, require_masks=True)[1] == []
    coco['annotations'][0]['segmentation'] = dict(rle, size=[60, 40])
    assert [p.kind for p in check_coco_annotations(coco, require_masks=True)[1]] == [
        'invalid RLE segmentation']


@pytest.mark.parametrize('coco, match', [
    ([], 'JSON object'),
    (dict(annotations=[], categories=[]), "'images'"),
    (dict(images=[], annotations=[]), "'categories'"),
    (dict(images=[], annotations={}, categories=[]), "'annotations' must be a list"),
    (dict(images=[], annotations=[], categories=[dict(id=1)]), r"categories\[0\]"),
])
def test_an_unusable_file_raises(coco, match):
    with pytest.raises(ValueError, match=match):
        check_coco_annotations(coco)


def test_image_size_that_differs_from_the_file_is_reported_and_taken_from_the_file(tmp_path):
    """The JSON says 60x40 but the file is 80x50: the box at x 62-72 is inside the real image,
    so it is kept, not dropped as 'outside' the size the JSON claims. An EXIF-rotated file
    whose JSON gives the decoded (rotated) size is not reported."""
    import cv2
    from PIL import Image

    coco = dict(images=[_img(1), _img(2), _img(3, w=40, h=60)], categories=CATEGORIES,
                annotations=[_ann(10, 1, [62, 5, 10, 10]), _ann(11, 2, [5, 5, 10, 10]),
                             _ann(12, 3, [5, 45, 10, 10])])
    (tmp_path / 'img').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / '0001.jpg'), np.zeros((50, 80, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'img' / '0002.jpg'), np.zeros((40, 60, 3), np.uint8))
    rotated = Image.fromarray(np.zeros((40, 60, 3), np.uint8))  # stored 60x40, shown 40x60
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    rotated.save(tmp_path / 'img' / '0003.jpg', exif=exif)
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    with pytest.warns(CocoAnnotationWarning) as record:
        ds = build_dataset(tmp_path)
    assert [(p.image_id, p.kind, p.action) for p in ds.problems] == [
        (1, 'image size differs from the file', 'width and height taken from the file')]
    message = next(str(w.message) for w in record if w.category is CocoAnnotationWarning)
    assert "image 1: image size differs from the file: 60x40 in the JSON, 80x50 in '0001.jpg'" \
        in message
    assert len(ds) == 3
    first = next(ds.get_data_info(i) for i in range(3) if ds.get_data_info(i)['img_id'] == 1)
    assert (first['width'], first['height']) == (80, 50)
    assert [inst['bbox'] for inst in first['instances']] == [[62, 5, 72, 15]]
    with pytest.raises(CocoAnnotationError, match='image 1: image size differs'):
        build_dataset(tmp_path, on_invalid='error')
    assert build_dataset(tmp_path, check_image_size=False).problems[0].kind == \
        'box outside the image'  # unchecked, the box is judged against the wrong size


# ------------------------------------------------------------------ the dataset
def test_drop_mode_warns_with_the_ids_and_a_whole_epoch_runs(tmp_path):
    root = write_dataset(tmp_path, broken_coco())
    with pytest.warns(CocoAnnotationWarning) as record:
        ds = build_dataset(root)
    message = next(str(w.message) for w in record if w.category is CocoAnnotationWarning)
    assert '11 problem(s) in 5 image(s)' in message
    for ann_id, (img_id, _, _) in EXPECTED.items():
        assert f'image {img_id}, annotation {ann_id}:' in message
    assert "image 4: image file not found: 'missing.jpg'" in message
    assert len(ds.problems) == 11
    assert isinstance(ds, CheckedCocoDataset)
    # images 1-3 stay (each keeps a valid box); a full epoch through the training pipeline
    assert len(ds) == 3
    for i in range(len(ds)):
        item = ds[i]
        boxes = item['data_samples'].gt_instances.bboxes.tensor
        h, w = item['data_samples'].img_shape
        assert len(boxes) >= 1 and bool(np.isfinite(boxes.numpy()).all())
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert len(item['data_samples'].gt_instances.masks) == len(boxes)


def test_error_mode_raises_at_build_time_with_every_id(tmp_path):
    root = write_dataset(tmp_path, broken_coco())
    with pytest.raises(CocoAnnotationError) as err:
        build_dataset(root, on_invalid='error', max_listed=50)
    text = str(err.value)
    for ann_id, (img_id, _, _) in EXPECTED.items():
        assert f'image {img_id}, annotation {ann_id}:' in text
    assert len(err.value.problems) == 11
    assert "on_invalid='drop'" in text


def test_bad_arguments_and_unreadable_json(tmp_path):
    root = write_dataset(tmp_path, broken_coco())
    with pytest.raises(ValueError, match="on_invalid must be 'drop' or 'error'"):
        build_dataset(root, on_invalid='warn')
    (root / 'ann.json').write_text('{"images": [')
    with pytest.raises(ValueError, match='ann.json: not valid JSON'):
        build_dataset(root)


def test_detection_pipelines_do_not_check_masks(tmp_path):
    coco = broken_coco()
    root = write_dataset(tmp_path, coco)
    with pytest.warns(CocoAnnotationWarning):
        ds = build_dataset(root, with_mask=False)
    assert {p.ann_id for p in ds.problems if p.ann_id is not None} == set(EXPECTED) - {19, 20}
    with pytest.warns(CocoAnnotationWarning):
        ds = build_dataset(root, with_mask=False, require_masks=True, check_image_files=False)
    assert 19 in {p.ann_id for p in ds.problems}
    assert 'image file not found' not in {p.kind for p in ds.problems}


# ------------------------------------------------------------------ what stock mmdet does
def test_stock_coco_dataset_is_silent_about_most_faults(tmp_path):
    """mmdet 3.3.0's CocoDataset on a file with an unknown category, boxes outside the image and
    an orphan annotation: no warning; the partly outside box is kept unclipped."""
    coco = dict(images=[_img(1)], annotations=[
        _ann(1, 1, [5, 5, 10, 10], cat=999), _ann(2, 1, [100, 100, 5, 5]),
        _ann(3, 1, [50, 30, 20, 20]), _ann(4, 9, [1, 1, 5, 5])], categories=CATEGORIES)
    root = write_dataset(tmp_path, coco)
    import warnings
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        ds = build_dataset(root, type_='CocoDataset', with_mask=False)
    assert not [w for w in record if '999' in str(w.message) or 'outside' in str(w.message)]
    instances = ds.get_data_info(0)['instances']
    assert [inst['bbox'] for inst in instances] == [[50, 30, 70, 50]]  # beyond the 60x40 image


def test_stock_coco_dataset_crashes_mid_epoch_where_checked_one_does_not(tmp_path):
    """An annotation without segmentation passes stock loading and crashes the mask pipeline
    at that image, in the middle of an epoch."""
    coco = dict(images=[_img(1), _img(2)],
                annotations=[_ann(1, 1, [5, 5, 10, 10]),
                             _ann(2, 2, [5, 5, 10, 10], segmentation=[])],
                categories=CATEGORIES)
    root = write_dataset(tmp_path, coco)
    stock = build_dataset(root, type_='CocoDataset')
    stock[0]
    with pytest.raises(KeyError, match='mask'):
        stock[1]
    with pytest.warns(CocoAnnotationWarning, match='image 2, annotation 2: no segmentation'):
        checked = build_dataset(root)
    assert len(checked) == 1 and len(checked[0]['data_samples'].gt_instances) == 1


# ------------------------------------------------------------------ registry and bundled data
def test_datasets_registry():
    from mmengine.registry import DATASETS as ROOT_DATASETS

    from attnplug.registry import DATASETS
    assert DATASETS.scope == 'attnplug' and DATASETS.parent is ROOT_DATASETS
    assert ROOT_DATASETS._children['attnplug'] is DATASETS
    assert DATASETS._locations == ['attnplug.datasets']
    assert DATASETS.get('CheckedCocoDataset') is CheckedCocoDataset
    with pytest.raises(KeyError, match='Available names: CheckedCocoDataset'):
        DATASETS.get('CheckedVOCDataset')


def test_scoped_dataset_type_resolves_from_mmdet_without_custom_imports(python_runner, tmp_path):
    root = write_dataset(tmp_path, broken_coco())
    code = textwrap.dedent(f"""
        import sys, warnings
        warnings.simplefilter('ignore')
        from mmdet.registry import DATASETS
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=True)
        assert 'attnplug' not in sys.modules
        ds = DATASETS.build(dict(type='attnplug.CheckedCocoDataset', data_root={str(root)!r},
                                 ann_file='ann.json', data_prefix=dict(img='img/'),
                                 metainfo=dict(classes=('person', 'car')), pipeline=[]))
        print(type(ds).__module__, len(ds.problems))
    """)
    out = python_runner(['-c', code]).stdout
    assert 'attnplug.datasets.checked_coco 9' in out  # no mask pipeline: masks not checked


def test_bundled_coco_is_clean(tmp_path, data_generator):
    data_generator.generate(str(tmp_path), datasets=('coco', ), num_train=6, num_val=3, seed=0)
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    for split in ('train', 'val'):
        with DefaultScope.overwrite_default_scope('mmdet'):
            ds = DATASETS.build(dict(
                type='attnplug.CheckedCocoDataset', data_root=str(tmp_path / 'coco'),
                ann_file=f'annotations/instances_{split}2017.json',
                data_prefix=dict(img=f'{split}2017/'), require_masks=True,
                on_invalid='error', pipeline=[]))
        assert ds.problems == [] and len(ds) == (6 if split == 'train' else 3)


# ------------------------------------------------------------------ stock tools, end to end
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
TINY = [f'{d}.num_workers=0' for d in _LOADERS] + [f'{d}.persistent_workers=False'
                                                   for d in _LOADERS] + [
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2', 'model.backbone.base_channels=8',
    'model.neck.in_channels=[8,16,32,64]', 'model.neck.out_channels=32',
    'model.rpn_head.in_channels=32', 'model.rpn_head.feat_channels=32',
    'model.roi_head.bbox_roi_extractor.out_channels=32',
    'model.roi_head.bbox_head.in_channels=32', 'model.roi_head.bbox_head.fc_out_channels=64',
    'model.test_cfg.rcnn.score_thr=0.0', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2']


@pytest.mark.e2e
def test_voc_through_the_stock_tools(python_runner, repo_root, tmp_path):
    """mmdet's VOCDataset on the bundled VOC XML, through the stock train.py (2 iterations with
    a validation) and test.py: both report VOCMetric's mAP."""
    python_runner([repo_root / 'data' / 'generate.py', '--root', tmp_path / 'data',
                   '--datasets', 'voc', '--num-train', '6', '--num-val', '3'])
    cfg = repo_root / 'configs' / 'se' / 'faster-rcnn_r18-se-c2-c5_fpn_300iter_voc0712-bundled.py'
    work = tmp_path / 'work'
    no_warmup = ['param_scheduler.0.start_factor=1.0']  # two iterations must move the weights
    out = python_runner([stock_tool('mmdet', 'train'), cfg, '--work-dir', work, '--cfg-options', *TINY,
                         *no_warmup], cwd=tmp_path)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log and 'pascal_voc/mAP' in log, log[-3000:]
    python_runner([stock_tool('mmdet', 'test'), cfg, work / 'iter_2.pth', '--work-dir', work / 'test',
                   '--cfg-options', *TINY], cwd=tmp_path)
    metrics = sorted(glob.glob(str(work / 'test' / '2*' / '2*.json')))
    result = json.loads(open(metrics[-1]).read())
    assert 0.0 <= result['pascal_voc/mAP'] <= 100.0 and not math.isnan(result['pascal_voc/mAP'])
    # Two iterations cannot move the mAP of a detector; they must lower its loss on the
    # validation images below that of the initialisation it started from.
    losses = {}
    for name, checkpoint in (('untrained', []), ('trained', [work / 'iter_2.pth'])):
        out = python_runner([repo_root / 'tests' / 'e2e_val_loss.py', cfg, *checkpoint,
                             '--cfg-options', *TINY], cwd=tmp_path).stdout
        losses[name] = float(out.rsplit('val_loss', 1)[1].split()[0])
    assert losses['trained'] < losses['untrained'], losses


@pytest.mark.e2e
def test_broken_coco_through_the_stock_train_tool(python_runner, repo_root, tmp_path):
    """The stock train.py with the training set swapped for attnplug.CheckedCocoDataset on a
    broken copy of the bundled COCO annotations: 'drop' trains and logs every fault with its
    ids; 'error' stops before the first iteration, naming them."""
    python_runner([repo_root / 'data' / 'generate.py', '--root', tmp_path / 'data',
                   '--datasets', 'coco', '--num-train', '6', '--num-val', '3'])
    ann_dir = tmp_path / 'data' / 'coco' / 'annotations'
    coco = json.loads((ann_dir / 'instances_train2017.json').read_text())
    img = coco['images'][0]
    good = next(a for a in coco['annotations'] if a['image_id'] == img['id'])
    bad_ids = [900001, 900002, 900003]
    coco['annotations'] += [
        dict(good, id=bad_ids[0], category_id=12345),
        dict(good, id=bad_ids[1], bbox=[img['width'] + 5, 0, 10, 10]),
        dict(good, id=bad_ids[2], image_id=424242)]
    (ann_dir / 'broken_train2017.json').write_text(json.dumps(coco))
    cfg = repo_root / 'configs' / 'se' / 'faster-rcnn_r18-se-c2-c5_fpn_300iter_coco-bundled.py'
    swap = ['train_dataloader.dataset.type=attnplug.CheckedCocoDataset',
            'train_dataloader.dataset.ann_file=annotations/broken_train2017.json']
    out = python_runner([stock_tool('mmdet', 'train'), cfg, '--work-dir', tmp_path / 'drop',
                         '--cfg-options', *TINY, *swap, 'train_cfg.val_interval=100'],
                        cwd=tmp_path)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log, log[-3000:]
    assert '3 problem(s) in 2 image(s)' in log
    assert f"image {img['id']}, annotation {bad_ids[0]}: unknown category_id" in log
    assert f"image {img['id']}, annotation {bad_ids[1]}: box outside the image" in log
    assert f'image 424242, annotation {bad_ids[2]}: unknown image_id' in log
    err = python_runner([stock_tool('mmdet', 'train'), cfg, '--work-dir', tmp_path / 'error',
                         '--cfg-options', *TINY, *swap,
                         'train_dataloader.dataset.on_invalid=error'], cwd=tmp_path, check=False)
    log = err.stdout + err.stderr
    assert err.returncode != 0 and 'CocoAnnotationError' in log
    assert f"annotation {bad_ids[0]}: unknown category_id" in log
    assert 'Iter(train)' not in log
