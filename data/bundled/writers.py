"""The dataset writers: each dataset's files in its real layout, the manifest, and
:func:`generate`, which writes them under a root and skips what is already up to date."""
import hashlib
import json
import os
import shutil
import time

import numpy as np

from .encoders import encode_jpeg, encode_png
from .labels import (CITYSCAPES_CITIES, CITYSCAPES_EGO_VEHICLE_ID, CITYSCAPES_LABELS,
                     CITYSCAPES_SIZE, CITYSCAPES_TRAIN_ID, COCO_CATEGORIES, COCO_ID,
                     COCO_SIGN_CLASS, DATASET_DIRS, DATASETS, VOC_CLASSES, VOC_SIGN_CLASS)
from .scenes import (OBJECT_CLASSES, _balanced_classes, _dilate, _erode, _image_random,
                     _sign_mask, render_scene)

GENERATOR_VERSION = 1
MANIFEST_NAME = '.attnplug_manifest.json'


# ----------------------------------------------------------------------------------------------
# Dataset writers. Each returns {relative path: bytes}.
# ----------------------------------------------------------------------------------------------
def _cityscapes_files(seed, num_train, num_val):
    files = {}
    lut_id = np.zeros(256, dtype=np.uint8)
    lut_color = np.zeros((256, 4), dtype=np.uint8)
    for train_id, (_, label_id, color) in enumerate(CITYSCAPES_LABELS):
        lut_id[train_id] = label_id
        lut_color[train_id] = color + (255,)
    lut_id[255] = CITYSCAPES_EGO_VEHICLE_ID
    lut_color[255] = (0, 0, 0, 255)
    object_ids = [CITYSCAPES_TRAIN_ID[c] for c in OBJECT_CLASSES]
    h, w = CITYSCAPES_SIZE
    for split, n in (('train', num_train), ('val', num_val)):
        cities = CITYSCAPES_CITIES[split]
        classes = _balanced_classes(seed, 'cityscapes', split, n)
        listing = []
        for i in range(n):
            city = cities[i % len(cities)]
            stem = f'{city}_{i // len(cities):06d}_000019'
            info = render_scene(_image_random(seed, 'cityscapes', split, i), h, w, classes[i], 'cityscapes')
            label = np.full((h, w), CITYSCAPES_TRAIN_ID['road'], dtype=np.uint8)
            label[:info['horizon']] = CITYSCAPES_TRAIN_ID['sky']
            label[_sign_mask(info, h, w)] = CITYSCAPES_TRAIN_ID['traffic sign']
            for obj in info['objects']:
                label[obj['mask']] = object_ids[classes[i]]
            label[info['hood_mask']] = 255
            files[f'leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png'] = encode_png(info['image'])
            gt = f'gtFine/{split}/{city}/{stem}_gtFine_'
            files[gt + 'labelTrainIds.png'] = encode_png(label)
            files[gt + 'labelIds.png'] = encode_png(lut_id[label])
            files[gt + 'color.png'] = encode_png(lut_color[label])
            listing.append(f'{city}/{stem}')
        # mmseg's tools/dataset_converters/cityscapes.py writes these split lists next to the data
        files[f'{split}.txt'] = ''.join(f'{line}\n' for line in sorted(listing)).encode()
    return files


def voc_colormap(n=256):
    """PASCAL VOC's label colormap (VOCdevkit's labelcolormap.m)."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def _voc_xml(folder, filename, width, height, objects, segmented):
    lines = ['<annotation>', f'\t<folder>{folder}</folder>', f'\t<filename>{filename}</filename>',
             '\t<source>', '\t\t<database>attnplug synthetic data (PASCAL VOC layout)</database>',
             f'\t\t<annotation>PASCAL {folder}</annotation>', '\t\t<image>data/generate.py</image>',
             '\t</source>', '\t<size>', f'\t\t<width>{width}</width>', f'\t\t<height>{height}</height>',
             '\t\t<depth>3</depth>', '\t</size>', f'\t<segmented>{segmented}</segmented>']
    for name, (xmin, ymin, xmax, ymax) in objects:
        lines += ['\t<object>', f'\t\t<name>{name}</name>', '\t\t<pose>Unspecified</pose>',
                  '\t\t<truncated>0</truncated>', '\t\t<difficult>0</difficult>', '\t\t<bndbox>',
                  f'\t\t\t<xmin>{xmin}</xmin>', f'\t\t\t<ymin>{ymin}</ymin>', f'\t\t\t<xmax>{xmax}</xmax>',
                  f'\t\t\t<ymax>{ymax}</ymax>', '\t\t</bndbox>', '\t</object>']
    lines.append('</annotation>')
    return ('\n'.join(lines) + '\n').encode()


def _voc_box(mask):
    """VOC's 1-based inclusive pixel box of a mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1


def _voc_image(seed, stream, split, index, cls):
    rng = _image_random(seed, stream, split, index)
    h, w = rng.integers(160, 201), rng.integers(160, 201)
    return render_scene(rng, h, w, cls, 'voc')


def _voc_files(seed, num_train, num_val):
    files = {}
    palette = voc_colormap()
    class_index = {name: i + 1 for i, name in enumerate(VOC_CLASSES)}
    # VOC2012: segmentation train/val; all of them also form the detection trainval (as in the real set)
    splits = {'train': [], 'val': []}
    for split, n in (('train', num_train), ('val', num_val)):
        classes = _balanced_classes(seed, 'voc2012', split, n)
        for i in range(n):
            # VOC2012-style ids 'YYYY_NNNNNN'; the splits use disjoint number ranges
            image_id = f'{2007 + i % 5}_{(32 if split == "train" else 500032) + 7 * (i // 5):06d}'
            info = _voc_image(seed, 'voc2012', split, i, classes[i])
            h, w = info['image'].shape[:2]
            name = OBJECT_CLASSES[classes[i]]
            label = np.zeros((h, w), dtype=np.uint8)
            void = np.zeros((h, w), dtype=bool)
            boxes = []
            sign = _sign_mask(info, h, w)
            for mask, cname in [(o['mask'], name) for o in info['objects']] + [(sign, VOC_SIGN_CLASS)]:
                label[mask] = class_index[cname]
                void |= _dilate(mask, 2) & ~_erode(mask, 1)  # VOC's void band along object outlines
                boxes.append((cname, _voc_box(mask)))
            label[void] = 255
            files[f'VOC2012/JPEGImages/{image_id}.jpg'] = encode_jpeg(info['image'])
            files[f'VOC2012/SegmentationClass/{image_id}.png'] = encode_png(label, palette=palette)
            files[f'VOC2012/Annotations/{image_id}.xml'] = _voc_xml('VOC2012', f'{image_id}.jpg', w, h, boxes, 1)
            splits[split].append(image_id)
    lists = {
        'Segmentation/train.txt': splits['train'], 'Segmentation/val.txt': splits['val'],
        'Segmentation/trainval.txt': splits['train'] + splits['val'],
        'Main/train.txt': splits['train'], 'Main/val.txt': splits['val'],
        'Main/trainval.txt': splits['train'] + splits['val']}
    for rel, ids in lists.items():
        files[f'VOC2012/ImageSets/{rel}'] = ''.join(f'{i}\n' for i in sorted(ids)).encode()
    # VOC2007: detection trainval (num_train) and test (num_val)
    ids07 = {'trainval': [], 'test': []}
    for split, n, listing in (('train', num_train, 'trainval'), ('val', num_val, 'test')):
        classes = _balanced_classes(seed, 'voc2007', split, n)
        for i in range(n):
            image_id = f'{1 + i + (num_train if split == "val" else 0):06d}'
            info = _voc_image(seed, 'voc2007', split, i, classes[i])
            h, w = info['image'].shape[:2]
            name = OBJECT_CLASSES[classes[i]]
            boxes = [(name, _voc_box(o['mask'])) for o in info['objects']]
            boxes.append((VOC_SIGN_CLASS, _voc_box(_sign_mask(info, h, w))))
            files[f'VOC2007/JPEGImages/{image_id}.jpg'] = encode_jpeg(info['image'])
            files[f'VOC2007/Annotations/{image_id}.xml'] = _voc_xml('VOC2007', f'{image_id}.jpg', w, h, boxes, 0)
            ids07[listing].append(image_id)
    lists07 = {'trainval': ids07['trainval'], 'test': ids07['test'],  # train/val halve trainval, as in VOC
               'train': ids07['trainval'][0::2], 'val': ids07['trainval'][1::2]}
    for rel, ids in lists07.items():
        files[f'VOC2007/ImageSets/Main/{rel}.txt'] = ''.join(f'{i}\n' for i in ids).encode()
    return files


def _coco_annotation(polygon, mask, image_id, category_id, ann_id):
    x0, y0 = float(polygon[:, 0].min()), float(polygon[:, 1].min())
    x1, y1 = float(polygon[:, 0].max()), float(polygon[:, 1].max())
    return {'segmentation': [[round(float(v), 2) for v in polygon.reshape(-1)]],
            'area': float(mask.sum()), 'iscrowd': 0, 'image_id': image_id,
            'bbox': [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            'category_id': category_id, 'id': ann_id}


def _coco_files(seed, num_train, num_val):
    files = {}
    categories = [{'supercategory': sup, 'id': cid, 'name': name} for cid, name, sup in COCO_CATEGORIES]
    for split, n in (('train', num_train), ('val', num_val)):
        classes = _balanced_classes(seed, 'coco', split, n)
        images, annotations = [], []
        first_id = 100_000 if split == 'train' else 900_000
        for i in range(n):
            rng = _image_random(seed, 'coco', split, i)
            h, w = rng.integers(160, 257), rng.integers(160, 257)
            info = render_scene(rng, h, w, classes[i], 'coco')
            image_id = first_id + 37 * i
            file_name = f'{image_id:012d}.jpg'
            files[f'{split}2017/{file_name}'] = encode_jpeg(info['image'])
            images.append({'license': 1, 'file_name': file_name, 'coco_url': '', 'height': int(h),
                           'width': int(w), 'date_captured': '2017-01-01 00:00:00', 'flickr_url': '',
                           'id': image_id})
            category = COCO_ID[OBJECT_CLASSES[classes[i]]]
            x0, y0, s = info['sign_box']
            square = np.array([[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s]], dtype=np.float64)
            shapes = [(o['polygon'], o['mask'], category) for o in info['objects']]
            shapes.append((square, _sign_mask(info, h, w), COCO_ID[COCO_SIGN_CLASS]))
            for polygon, mask, category_id in shapes:
                ann_id = (1 if split == 'train' else 5_000_000) + len(annotations)  # unique in both files
                annotations.append(_coco_annotation(polygon, mask, image_id, category_id, ann_id))
        doc = {'info': {'description': 'attnplug synthetic data in the COCO 2017 layout',
                        'url': 'https://github.com/attnplug/attnplug', 'version': str(GENERATOR_VERSION),
                        'year': 2017, 'contributor': 'attnplug data/generate.py',
                        'date_created': '2017/09/01'},
               'licenses': [{'url': 'https://creativecommons.org/publicdomain/zero/1.0/', 'id': 1,
                             'name': 'CC0 1.0 Universal'}],
               'images': images, 'annotations': annotations, 'categories': categories}
        files[f'annotations/instances_{split}2017.json'] = json.dumps(doc, separators=(',', ':')).encode()
    return files


_WRITERS = {'cityscapes': _cityscapes_files, 'voc': _voc_files, 'coco': _coco_files}


# ----------------------------------------------------------------------------------------------
# Manifest, idempotence
# ----------------------------------------------------------------------------------------------
def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _manifest(dataset, seed, num_train, num_val, files):
    hashes = {rel: _sha256(data) for rel, data in sorted(files.items())}
    total = _sha256(''.join(f'{rel} {h}\n' for rel, h in hashes.items()).encode())
    return {'generator': 'attnplug data/generate.py', 'version': GENERATOR_VERSION, 'dataset': dataset,
            'seed': seed, 'num_train': num_train, 'num_val': num_val, 'sha256': total, 'files': hashes}


def read_manifest(directory):
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _manifest_problems(directory, manifest):
    """Files listed in the manifest that are missing or differ from what was generated."""
    problems = []
    for rel, digest in manifest.get('files', {}).items():
        path = os.path.join(directory, rel)
        if not os.path.isfile(path):
            problems.append(f'{path}: missing; the generator wrote it (rerun data/generate.py --force)')
            continue
        with open(path, 'rb') as f:
            if _sha256(f.read()) != digest:
                problems.append(f'{path}: content differs from what the generator wrote '
                                f'(rerun data/generate.py --force)')
    return problems


def generate(root='data', datasets=DATASETS, num_train=48, num_val=16, seed=0, force=False, log=print):
    """Write the datasets under ``root``; returns {dataset: 'generated' | 'skipped'}.

    A dataset is skipped when its manifest records the same generator version, seed and counts and
    every listed file still has its recorded hash. A directory without this generator's manifest (a
    real dataset, say) is never overwritten unless ``force`` is set.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError('num_train and num_val must be >= 1')
    results = {}
    os.makedirs(root, exist_ok=True)
    for dataset in datasets:
        if dataset not in _WRITERS:
            raise ValueError(f'unknown dataset {dataset!r}; choose from {DATASETS}')
        target = os.path.join(root, DATASET_DIRS[dataset])
        old = read_manifest(target)
        wanted = dict(version=GENERATOR_VERSION, dataset=dataset, seed=seed, num_train=num_train,
                      num_val=num_val)
        if old is not None and not force and all(old.get(k) == v for k, v in wanted.items()) \
                and not _manifest_problems(target, old):
            log(f'{dataset}: up to date in {target} (manifest {old["sha256"][:12]}), skipped')
            results[dataset] = 'skipped'
            continue
        if os.path.exists(target) and old is None and not force:
            raise FileExistsError(
                f'{target} exists but was not made by data/generate.py (no {MANIFEST_NAME}); '
                f'it may be a real dataset. Use another --root, or --force to replace it.')
        start = time.time()
        files = _WRITERS[dataset](seed, num_train, num_val)
        manifest = _manifest(dataset, seed, num_train, num_val, files)
        partial = os.path.join(root, f'.{DATASET_DIRS[dataset]}.partial')
        shutil.rmtree(partial, ignore_errors=True)
        for rel, data in files.items():
            path = os.path.join(partial, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(data)
        with open(os.path.join(partial, MANIFEST_NAME), 'w') as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write('\n')
        if os.path.exists(target):  # swap in the finished tree only after it is complete
            stale = os.path.join(root, f'.{DATASET_DIRS[dataset]}.stale')
            shutil.rmtree(stale, ignore_errors=True)
            os.rename(target, stale)
            os.rename(partial, target)
            shutil.rmtree(stale)
        else:
            os.rename(partial, target)
        size = sum(len(d) for d in files.values())
        log(f'{dataset}: wrote {len(files)} files ({size / 2**20:.1f} MiB) for {num_train} train + '
            f'{num_val} val images to {target} in {time.time() - start:.1f} s '
            f'(manifest {manifest["sha256"][:12]})')
        results[dataset] = 'generated'
    return results

