"""Tests of data/generate.py: the layouts load through the stock OpenMMLab datasets and ``_base_``
dataset configs, generation is deterministic and idempotent, ``--check`` names broken files, and the
cue (not the local appearance) decides each object's class.

The generator is a script, not a package module: the ``data_generator`` fixture
(tests/conftest.py) loads it by path.
"""
import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

REPO = Path(__file__).resolve().parents[2]
GENERATE = REPO / 'data' / 'generate.py'
CONFIGS = REPO / 'configs' / '_base_' / 'datasets'
NUM_TRAIN, NUM_VAL = 24, 6
OBJECTS = ('person', 'bicycle', 'car')  # what the sign's three patterns stand for


def _quiet(*_):
    pass


def _tree_hashes(path):
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def root(data_generator, tmp_path_factory):
    path = tmp_path_factory.mktemp('data')
    result = data_generator.generate(str(path), num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, log=_quiet)
    assert result == {'cityscapes': 'generated', 'voc': 'generated', 'coco': 'generated'}
    return path


# ------------------------------------------------------------------ generation
def test_generation_is_deterministic(data_generator, root, tmp_path):
    again = data_generator.generate(str(tmp_path / 'a'), num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, log=_quiet)
    assert set(again.values()) == {'generated'}
    first, second = _tree_hashes(root), _tree_hashes(tmp_path / 'a')
    assert len(first) > 3 * (NUM_TRAIN + NUM_VAL)
    assert first == second
    # another seed gives other images, so the comparison above can fail
    data_generator.generate(str(tmp_path / 'b'), datasets=['coco'], num_train=2, num_val=1, seed=1, log=_quiet)
    other = _tree_hashes(tmp_path / 'b')
    seeded = {k: v for k, v in first.items() if k.startswith('coco/train2017/')}
    assert not set(seeded.values()) & set(other.values())


def test_smaller_runs_are_prefixes(data_generator, root, tmp_path):
    """An image's content depends on (seed, split, index) only, not on the requested counts."""
    data_generator.generate(str(tmp_path), datasets=['cityscapes'], num_train=4, num_val=1, log=_quiet)
    small, full = _tree_hashes(tmp_path), _tree_hashes(root)
    images = [k for k in small if k.endswith('.png')]
    assert len(images) == 4 * 5
    assert all(small[k] == full[k] for k in images)


def test_cli_skips_when_up_to_date_and_repairs(tmp_path, python_runner):
    args = [GENERATE, '--root', tmp_path, '--datasets', 'cityscapes', '--num-train', '2', '--num-val', '1']
    first = python_runner(args)
    assert 'cityscapes: wrote' in first.stdout
    files = sorted(p for p in tmp_path.rglob('*') if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    originals = _tree_hashes(tmp_path)

    second = python_runner(args)
    assert 'skipped' in second.stdout and 'wrote' not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in files} == stamps

    label = next(tmp_path.rglob('*_gtFine_labelTrainIds.png'))
    label.write_bytes(b'not a png')
    third = python_runner(args)
    assert 'cityscapes: wrote' in third.stdout
    assert _tree_hashes(tmp_path) == originals

    fourth = python_runner(args[:-1] + ['2'])  # other counts: regenerate
    assert 'cityscapes: wrote' in fourth.stdout
    assert len(list((tmp_path / 'cityscapes' / 'leftImg8bit' / 'val').rglob('*.png'))) == 2


def test_refuses_to_overwrite_a_dataset_it_did_not_make(data_generator, tmp_path, python_runner):
    real = tmp_path / 'coco' / 'annotations' / 'instances_train2017.json'
    real.parent.mkdir(parents=True)
    real.write_text('{"images": []}')
    with pytest.raises(FileExistsError, match='not made by data/generate.py'):
        data_generator.generate(str(tmp_path), datasets=['coco'], num_train=1, num_val=1, log=_quiet)
    proc = python_runner([GENERATE, '--root', tmp_path, '--datasets', 'coco'], check=False)
    assert proc.returncode == 2 and '--force' in proc.stderr
    assert real.read_text() == '{"images": []}'
    data_generator.generate(str(tmp_path), datasets=['coco'], num_train=1, num_val=1, force=True, log=_quiet)
    assert json.loads(real.read_text())['images']


def test_check_names_broken_files(data_generator, tmp_path, python_runner):
    data_generator.generate(str(tmp_path), num_train=3, num_val=2, log=_quiet)
    assert data_generator.check(str(tmp_path)) == []
    label = sorted((tmp_path / 'cityscapes' / 'gtFine' / 'train').rglob('*_labelTrainIds.png'))[0]
    label.unlink()
    xml = sorted((tmp_path / 'VOCdevkit' / 'VOC2007' / 'Annotations').glob('*.xml'))[0]
    xml.write_text(xml.read_text().replace('<xmax>', '<xmax>9').replace('</annotation>', ''))
    ann_file = tmp_path / 'coco' / 'annotations' / 'instances_val2017.json'
    doc = json.loads(ann_file.read_text())
    doc['annotations'][0]['bbox'][0] = 10_000
    ann_file.write_text(json.dumps(doc))
    image = sorted((tmp_path / 'coco' / 'train2017').glob('*.jpg'))[0]
    image.write_bytes(image.read_bytes()[:200])

    errors = data_generator.check(str(tmp_path))
    assert any(e.startswith(f'{label}: missing label map') for e in errors), errors
    assert any(e.startswith(f'{xml}: unreadable VOC XML') for e in errors), errors
    assert any(e.startswith(f'{ann_file} (annotation id') and 'bbox' in e for e in errors), errors
    assert any(e.startswith(f'{image}: unreadable JPEG') for e in errors), errors
    proc = python_runner([GENERATE, '--root', tmp_path, '--check'], check=False)
    assert proc.returncode == 1 and str(label) in proc.stdout


# ------------------------------------------------------------------ the stock datasets
def _config(name, options):
    from mmengine.config import Config
    cfg = Config.fromfile(str(CONFIGS / f'{name}.py'))
    cfg.merge_from_dict(options)  # what --cfg-options does
    return cfg


def _registry(scope):
    from mmengine.registry import init_default_scope
    if scope == 'mmseg':
        from mmseg.registry import DATASETS
        from mmseg.utils import register_all_modules
    else:
        from mmdet.registry import DATASETS
        from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope(scope)
    return DATASETS


def _seg_options(data_root):
    return {f'{loader}.dataset.data_root': data_root for loader in
            ('train_dataloader', 'val_dataloader', 'test_dataloader')}


def _infos(dataset):
    """The parsed annotations (mmengine serialises ``data_list`` away after loading)."""
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def _label(path):
    return np.asarray(Image.open(path))


def test_cityscapes_through_stock_config(root):
    data_root = f'{root}/cityscapes/'
    cfg = _config('cityscapes_bundled', _seg_options(data_root))
    datasets = _registry('mmseg')
    train, val = datasets.build(cfg.train_dataloader.dataset), datasets.build(cfg.val_dataloader.dataset)
    test = datasets.build(cfg.test_dataloader.dataset)
    assert (len(train), len(val), len(test)) == (NUM_TRAIN, NUM_VAL, NUM_VAL)
    assert train.metainfo['classes'][11] == 'person' and len(train.metainfo['classes']) == 19

    # trainId -> labelId of cityscapesscripts' labels.py, for the ids that occur; 255 is the ego vehicle
    label_ids = {0: 7, 7: 20, 10: 23, 11: 24, 13: 26, 18: 33, 255: 1}
    seen = set()
    for info in _infos(train) + _infos(val):
        assert info['img_path'].startswith(data_root)
        train_ids = _label(info['seg_map_path'])
        assert train_ids.shape == (128, 256) == np.asarray(Image.open(info['img_path'])).shape[:2]
        values = set(np.unique(train_ids).tolist())
        assert values <= set(range(19)) | {255}
        assert {0, 7, 10, 255} <= values  # road, traffic sign, sky, ego vehicle
        seen |= values
        ids = _label(info['seg_map_path'].replace('labelTrainIds', 'labelIds'))
        for train_id in values:
            assert set(np.unique(ids[train_ids == train_id]).tolist()) == {label_ids[train_id]}
        color = np.asarray(Image.open(info['seg_map_path'].replace('labelTrainIds', 'color')).convert('RGB'))
        assert (color[train_ids == 11] == (220, 20, 60)).all() and (color[train_ids == 0] == (128, 64, 128)).all()
    assert {11, 13, 18} <= seen

    sample = train[0]
    inputs, gt = sample['inputs'], sample['data_samples'].gt_sem_seg.data
    assert inputs.shape[0] == 3 and inputs.shape[1:] == gt.shape[1:]
    assert inputs.shape[1] <= 128 and inputs.shape[2] <= 256
    assert set(gt.unique().tolist()) <= set(range(19)) | {255}
    assert test[0]['inputs'].shape == (3, 128, 256)


def test_pascal_voc12_through_stock_config(root):
    data_root = f'{root}/VOCdevkit/VOC2012'
    cfg = _config('pascal_voc12_bundled', _seg_options(data_root))
    datasets = _registry('mmseg')
    train, val = datasets.build(cfg.train_dataloader.dataset), datasets.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (NUM_TRAIN, NUM_VAL)
    voc_ids = {'background': 0, 'person': 15, 'bicycle': 2, 'car': 7, 'tvmonitor': 20}
    seen = set()
    for info in _infos(train) + _infos(val):
        stem = Path(info['img_path']).stem
        assert len(stem) == 11 and stem[4] == '_' and stem[:4].isdigit() and stem[5:].isdigit()
        png = Image.open(info['seg_map_path'])
        assert png.mode == 'P'
        palette = np.array(png.getpalette()[:768]).reshape(256, 3)
        assert palette[15].tolist() == [192, 128, 128] and palette[255].tolist() == [224, 224, 192]
        label = np.asarray(png)
        w, h = Image.open(info['img_path']).size
        assert label.shape == (h, w) and 160 <= h <= 200 and 160 <= w <= 200
        values = set(np.unique(label).tolist())
        assert values <= set(voc_ids.values()) | {255} and {0, 20, 255} <= values
        seen |= values
    assert {15, 2, 7} <= seen
    ids = {split: (Path(data_root) / f'ImageSets/Segmentation/{split}.txt').read_text().split()
           for split in ('train', 'val', 'trainval')}
    assert sorted(ids['train'] + ids['val']) == sorted(ids['trainval']) and not set(ids['train']) & set(ids['val'])

    sample = train[0]
    gt = sample['data_samples'].gt_sem_seg.data
    assert sample['inputs'].shape[1:] == gt.shape[1:] and max(gt.shape[1:]) <= 200
    assert set(gt.unique().tolist()) <= set(voc_ids.values()) | {255}


@pytest.mark.parametrize('name', ['coco_detection_bundled', 'coco_instance_bundled'])
def test_coco_through_stock_config(root, name):
    data_root = f'{root}/coco/'
    options = {f'{loader}.dataset.data_root': data_root for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    options['val_evaluator.ann_file'] = f'{data_root}annotations/instances_val2017.json'
    cfg = _config(name, options)
    datasets = _registry('mmdet')
    train, val = datasets.build(cfg.train_dataloader.dataset), datasets.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (NUM_TRAIN, NUM_VAL)
    classes = train.metainfo['classes']
    used = {classes.index(c) for c in OBJECTS + ('tv',)}

    doc = json.loads(Path(data_root, 'annotations/instances_train2017.json').read_text())
    assert set(doc) == {'info', 'licenses', 'images', 'annotations', 'categories'}
    cats = sorted(doc['categories'], key=lambda c: c['id'])
    assert [c['name'] for c in cats] == list(classes)  # the real 80 names in id order
    assert len({c['id'] for c in cats}) == 80 and cats[-1]['id'] == 90 and 12 not in {c['id'] for c in cats}
    assert all(len(im['file_name']) == 16 and im['file_name'] == f'{im["id"]:012d}.jpg' for im in doc['images'])
    ids = [a['id'] for a in doc['annotations']]
    assert len(ids) == len(set(ids)) and all(a['iscrowd'] == 0 and a['area'] > 0 for a in doc['annotations'])

    for info in _infos(train) + _infos(val):
        w, h = Image.open(info['img_path']).size
        assert (w, h) == (info['width'], info['height']) and 160 <= min(w, h) and max(w, h) <= 256
        assert len(info['instances']) >= 2
        for inst in info['instances']:
            x0, y0, x1, y1 = inst['bbox']
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            assert inst['bbox_label'] in used and inst['ignore_flag'] == 0
            poly = np.array(inst['mask'][0]).reshape(-1, 2)
            assert np.allclose([poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max()],
                               inst['bbox'], atol=0.02)

    sample = train[0]
    gt = sample['data_samples'].gt_instances
    img_h, img_w = sample['data_samples'].img_shape
    assert sample['inputs'].shape[1:] == (img_h, img_w) and min(img_h, img_w) == 256 and max(img_h, img_w) <= 427
    boxes = gt.bboxes.tensor
    assert len(boxes) >= 2 and (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= img_w).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= img_h).all()
    if name == 'coco_instance_bundled':
        assert gt.masks.masks.shape == (len(boxes), img_h, img_w) and gt.masks.masks.any(axis=(1, 2)).all()


def test_voc0712_through_stock_config(root):
    data_root = f'{root}/VOCdevkit/'
    options = {f'train_dataloader.dataset.dataset.datasets.{i}.data_root': data_root for i in (0, 1)}
    options.update({f'{loader}.dataset.data_root': data_root for loader in ('val_dataloader', 'test_dataloader')})
    cfg = _config('voc0712_bundled', options)
    datasets = _registry('mmdet')
    train, val = datasets.build(cfg.train_dataloader.dataset), datasets.build(cfg.val_dataloader.dataset)
    assert len(train) == 3 * (NUM_TRAIN + NUM_TRAIN + NUM_VAL)  # RepeatDataset x3 of VOC07 + VOC12 trainval
    assert len(val) == NUM_VAL
    classes = val.metainfo['classes']

    for dataset in list(train.dataset.datasets) + [val]:
        for info in _infos(dataset):
            # the XML is VOC's schema, and its boxes are 1-based inclusive pixels
            root_el = ET.parse(Path(data_root, info['xml_path'])).getroot()
            assert root_el.tag == 'annotation' and root_el.findtext('filename') == f'{info["img_id"]}.jpg'
            assert root_el.findtext('folder') in ('VOC2007', 'VOC2012')
            w, h = int(root_el.findtext('size/width')), int(root_el.findtext('size/height'))
            assert root_el.findtext('size/depth') == '3' and Image.open(info['img_path']).size == (w, h)
            for obj in root_el.findall('object'):
                assert [c.tag for c in obj] == ['name', 'pose', 'truncated', 'difficult', 'bndbox']
                box = [int(obj.findtext(f'bndbox/{k}')) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
                assert 1 <= box[0] < box[2] <= w and 1 <= box[1] < box[3] <= h
            names = {classes[i['bbox_label']] for i in info['instances']}
            assert 'tvmonitor' in names and len(names & set(OBJECTS)) == 1
            # voc0712.py ignores boxes under 32 px in training; none of ours is that small
            assert all(i['ignore_flag'] == 0 for i in info['instances'])

    sample = train[0]
    boxes = sample['data_samples'].gt_instances.bboxes.tensor
    img_h, img_w = sample['data_samples'].img_shape
    assert len(boxes) >= 2 and min(img_h, img_w) == 200  # short side to 200, as (333, 200) allows
    assert (boxes[:, 2] <= img_w).all() and (boxes[:, 3] <= img_h).all()


# ------------------------------------------------------------------ the cue decides the class
def _gray(rgb):
    return rgb.astype(np.float64).mean(axis=2)


def _decode_sign(rgb, box):
    """Class index from the pixels of the sign: stripes across y (0), across x (1), or both (2)."""
    x0, y0, x1, y1 = box
    g = _gray(rgb[y0 + 3:y1 - 2, x0 + 3:x1 - 2])
    gx, gy = np.abs(np.diff(g, axis=1)).mean(), np.abs(np.diff(g, axis=0)).mean()
    if gy > 2 * gx:
        return 0
    if gx > 2 * gy:
        return 1
    return 2


def _regions(root):
    """(dataset, rgb, sign box (x0, y0, x1, y1) exclusive, [(object mask, class name)]) per image.

    The masks come from the stored labels: Cityscapes trainIds, VOC2012 SegmentationClass, COCO polygons.
    """
    out = []
    names = {11: 'person', 18: 'bicycle', 13: 'car'}
    for path in sorted((root / 'cityscapes' / 'leftImg8bit').rglob('*.png')):
        rgb = np.asarray(Image.open(path).convert('RGB'))
        label = _label(str(path).replace('/leftImg8bit/', '/gtFine/').replace('_leftImg8bit.png',
                                                                             '_gtFine_labelTrainIds.png'))
        ys, xs = np.nonzero(label == 7)
        objects = []
        for train_id, name in names.items():
            components, n = ndimage.label(label == train_id)
            objects += [(components == k, name) for k in range(1, n + 1)]
        out.append(('cityscapes', rgb, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), objects))
    voc_names = {15: 'person', 2: 'bicycle', 7: 'car'}
    for path in sorted((root / 'VOCdevkit' / 'VOC2012' / 'JPEGImages').glob('*.jpg')):
        rgb = np.asarray(Image.open(path).convert('RGB'))
        label = _label(path.parent.parent / 'SegmentationClass' / f'{path.stem}.png')
        ys, xs = np.nonzero(label == 20)
        objects = []
        for index, name in voc_names.items():
            components, n = ndimage.label(label == index)
            objects += [(components == k, name) for k in range(1, n + 1)]
        out.append(('voc', rgb, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), objects))
    for split in ('train', 'val'):
        doc = json.loads((root / 'coco' / 'annotations' / f'instances_{split}2017.json').read_text())
        cats = {c['id']: c['name'] for c in doc['categories']}
        by_image = {}
        for ann in doc['annotations']:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for im in doc['images']:
            rgb = np.asarray(Image.open(root / 'coco' / f'{split}2017' / im['file_name']).convert('RGB'))
            objects, sign = [], None
            for ann in by_image[im['id']]:
                if cats[ann['category_id']] == 'tv':
                    x, y, w, h = ann['bbox']
                    sign = (int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
                    continue
                canvas = Image.new('1', (im['width'], im['height']))
                ImageDraw.Draw(canvas).polygon([tuple(p) for p in np.reshape(ann['segmentation'][0], (-1, 2))],
                                               fill=1)
                objects.append((np.asarray(canvas), cats[ann['category_id']]))
            out.append(('coco', rgb, sign, objects))
    return out


def test_sign_decides_every_object_class(root):
    regions = _regions(root)
    assert len(regions) == 3 * (NUM_TRAIN + NUM_VAL)
    per_class = {}
    for dataset, rgb, box, objects in regions:
        cue = OBJECTS[_decode_sign(rgb, box)]
        assert objects and all(name == cue for _, name in objects), (dataset, cue, [n for _, n in objects])
        per_class[cue] = per_class.get(cue, 0) + 1
        # the sign is far from every object: no object pixel within 8 px of the sign's box
        x0, y0, x1, y1 = box
        near = np.zeros(rgb.shape[:2], bool)
        near[max(y0 - 8, 0):y1 + 8, max(x0 - 8, 0):x1 + 8] = True
        assert not any((mask & near).any() for mask, _ in objects)
    assert sorted(per_class) == sorted(OBJECTS) and min(per_class.values()) >= len(regions) // 3 - 3


def _features(rgb, mask):
    """Local appearance of a region: colour, contrast, texture orientation, size and shape."""
    inner = ndimage.binary_erosion(mask, iterations=2)
    if inner.sum() < 10:
        inner = mask
    g = _gray(rgb)
    gx = np.abs(np.diff(g, axis=1, append=g[:, -1:]))
    gy = np.abs(np.diff(g, axis=0, append=g[-1:, :]))
    ys, xs = np.nonzero(mask)
    w, h = np.ptp(xs) + 1, np.ptp(ys) + 1
    return np.concatenate([rgb[inner].mean(0), rgb[inner].std(0), [g[inner].std(), gx[inner].mean(),
                           gy[inner].mean(), np.log(mask.sum()), np.log(w / h)]])


def _patch(rgb, mask):
    ys, xs = np.nonzero(mask)
    crop = rgb[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.asarray(Image.fromarray(crop).resize((12, 12), Image.BILINEAR), np.float64).reshape(-1)


def _leave_one_out(features, labels, nearest_centroid):
    x = np.asarray(features, np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    y = np.asarray(labels)
    hits = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        if nearest_centroid:
            centroids = {c: x[keep & (y == c)].mean(0) for c in set(y[keep])}
            guess = min(centroids, key=lambda c: np.linalg.norm(x[i] - centroids[c]))
        else:  # 1-nearest neighbour
            d = np.linalg.norm(x[keep] - x[i], axis=1)
            guess = y[keep][np.argmin(d)]
        hits += guess == y[i]
    return hits / len(x)


def test_objects_alone_do_not_tell_their_class(root):
    """Local probes (nearest centroid on appearance statistics, 1-NN on 12x12 patches) label objects
    at chance, while the same probes on the signs are near perfect: the class is not in the object."""
    regions = _regions(root)
    for dataset in ('cityscapes', 'voc', 'coco'):
        obj_feats, obj_patches, obj_labels = [], [], []
        sign_feats, sign_patches, sign_labels = [], [], []
        for name, rgb, box, objects in regions:
            if name != dataset:
                continue
            for mask, cls in objects:
                obj_feats.append(_features(rgb, mask))
                obj_patches.append(_patch(rgb, mask))
                obj_labels.append(cls)
            x0, y0, x1, y1 = box
            sign = np.zeros(rgb.shape[:2], bool)
            sign[y0:y1, x0:x1] = True
            sign_feats.append(_features(rgb, sign))
            sign_patches.append(_patch(rgb, sign))
            sign_labels.append(objects[0][1])
        assert len(obj_labels) >= 40, dataset
        chance = max(obj_labels.count(c) for c in OBJECTS) / len(obj_labels)
        for feats, nc in ((obj_feats, True), (obj_patches, False)):
            accuracy = _leave_one_out(feats, obj_labels, nc)
            assert accuracy < chance + 0.22, (dataset, 'objects', nc, accuracy, chance)
        for feats, nc in ((sign_feats, True), (sign_patches, False)):
            accuracy = _leave_one_out(feats, sign_labels, nc)
            assert accuracy > 0.9, (dataset, 'signs', nc, accuracy)


@pytest.mark.parametrize('name,sub,sign_id', [('cityscapes_bundled', 'cityscapes/', 7),
                                              ('pascal_voc12_bundled', 'VOCdevkit/VOC2012', 20)])
def test_cue_survives_the_train_pipeline(root, name, sub, sign_id):
    """RandomResize + RandomCrop + RandomFlip of the bundled configs keep (part of) the sign in every crop."""
    import random
    cfg = _config(name, _seg_options(f'{root}/{sub}'))
    train = _registry('mmseg').build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    random.seed(0)
    smallest, crops = None, 0
    for _ in range(3):
        for i in range(len(train)):
            gt = train[i]['data_samples'].gt_sem_seg.data
            count = int((gt == sign_id).sum())
            smallest = count if smallest is None else min(smallest, count)
            crops += 1
    assert crops == 3 * NUM_TRAIN and smallest >= 64, smallest  # at least an 8x8 fragment
