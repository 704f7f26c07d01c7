"""Validation of a dataset root, generated or real: layouts, image headers, label values,
annotation files, and the manifest's hashes where this generator wrote one."""
import json
import os
import struct
import xml.etree.ElementTree as ET

import numpy as np

from .labels import CITYSCAPES_LABELS, COCO_CATEGORIES, DATASET_DIRS, DATASETS, VOC_CLASSES
from .writers import _manifest_problems, read_manifest

# ----------------------------------------------------------------------------------------------
# Validation of a dataset root (generated or real)
# ----------------------------------------------------------------------------------------------
def _png_header(path):
    """(width, height, bit depth, colour type) from a PNG's IHDR, or raise ValueError."""
    with open(path, 'rb') as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b'\x89PNG\r\n\x1a\n' or head[12:16] != b'IHDR':
        raise ValueError('not a PNG file')
    return struct.unpack('>IIBB', head[16:26])


def _jpeg_size(path):
    """(width, height) from a JPEG's SOF segment, or raise ValueError."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] != b'\xff\xd8':
        raise ValueError('not a JPEG file')
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError('corrupt JPEG marker sequence')
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = struct.unpack('>H', data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack('>HH', data[i + 5:i + 9])
            if b'\xff\xd9' not in data[-1024:]:
                raise ValueError('truncated JPEG (no end-of-image marker)')
            return w, h
        i += 2 + length
    raise ValueError('no frame header (SOF) found')


def _label_values(path):
    """Set of values of an 8-bit label PNG, decoded with Pillow; None when Pillow is missing."""
    try:
        from PIL import Image
    except ImportError:
        return None
    with Image.open(path) as im:
        return set(np.unique(np.asarray(im)).tolist())


class _Report:
    def __init__(self):
        self.errors = []

    def add(self, path, problem):
        self.errors.append(f'{path}: {problem}')


def _check_cityscapes(directory, rep):
    allowed = set(range(len(CITYSCAPES_LABELS))) | {255}
    for split in ('train', 'val'):
        img_dir = os.path.join(directory, 'leftImg8bit', split)
        if not os.path.isdir(img_dir):
            rep.add(img_dir, 'missing directory; expected leftImg8bit/<split>/<city>/*_leftImg8bit.png')
            continue
        images = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(img_dir) for f in fs
                        if f.endswith('_leftImg8bit.png'))
        if not images:
            rep.add(img_dir, 'no *_leftImg8bit.png images found')
        for img in images:
            rel = os.path.relpath(img, img_dir)
            label = os.path.join(directory, 'gtFine', split, rel[:-len('_leftImg8bit.png')]
                                 + '_gtFine_labelTrainIds.png')
            try:
                iw, ih, _, ictype = _png_header(img)
                if ictype not in (2, 6):
                    rep.add(img, f'PNG colour type {ictype}; expected an RGB image (type 2)')
            except (OSError, ValueError) as e:
                rep.add(img, f'unreadable image ({e})')
                continue
            if not os.path.isfile(label):
                rep.add(label, f'missing label map for {img}; mmseg pairs every *_leftImg8bit.png with a '
                               '*_gtFine_labelTrainIds.png (make them with mmseg\'s '
                               'tools/dataset_converters/cityscapes.py)')
                continue
            try:
                lw, lh, depth, ctype = _png_header(label)
            except (OSError, ValueError) as e:
                rep.add(label, f'unreadable label map ({e})')
                continue
            if (lw, lh) != (iw, ih):
                rep.add(label, f'size {lw}x{lh}; expected {iw}x{ih} like its image')
            if depth != 8 or ctype not in (0, 3):
                rep.add(label, f'bit depth {depth}, colour type {ctype}; expected an 8-bit single-channel PNG')
                continue
            values = _label_values(label)
            if values is not None and not values <= allowed:
                rep.add(label, f'label values {sorted(values - allowed)}; expected trainIds 0..18 or 255')


def _check_voc_xml(xml_path, img_path, rep):
    if not os.path.isfile(xml_path):
        rep.add(xml_path, 'missing annotation; mmdet reads <Annotations>/<id>.xml for every listed id')
        return
    try:
        root = ET.parse(xml_path).getroot()
        width, height = int(root.find('size/width').text), int(root.find('size/height').text)
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        rep.add(xml_path, f'unreadable VOC XML ({e}); expected <annotation><size><width>/<height> ...')
        return
    if os.path.isfile(img_path):
        try:
            if _jpeg_size(img_path) != (width, height):
                rep.add(xml_path, f'<size> says {width}x{height}; the image is '
                                  f'{"x".join(map(str, _jpeg_size(img_path)))}')
        except (OSError, ValueError) as e:
            rep.add(img_path, f'unreadable JPEG ({e})')
    for obj in root.findall('object'):
        name = obj.findtext('name')
        if name not in VOC_CLASSES:
            rep.add(xml_path, f'object name {name!r}; expected one of the 20 VOC classes')
        try:
            box = [int(float(obj.find(f'bndbox/{k}').text)) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        except (AttributeError, TypeError, ValueError):
            rep.add(xml_path, 'object without a numeric <bndbox><xmin>/<ymin>/<xmax>/<ymax>')
            continue
        if not (1 <= box[0] < box[2] <= width and 1 <= box[1] < box[3] <= height):
            rep.add(xml_path, f'box {box}; expected 1 <= xmin < xmax <= {width}, 1 <= ymin < ymax <= {height}')


def _read_ids(path, rep):
    if not os.path.isfile(path):
        rep.add(path, 'missing image list')
        return []
    with open(path) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        rep.add(path, 'empty image list')
    return ids


def _check_voc(directory, rep):
    voc12 = os.path.join(directory, 'VOC2012')
    allowed = set(range(len(VOC_CLASSES) + 1)) | {255}
    for split in ('train', 'val'):
        for image_id in _read_ids(os.path.join(voc12, 'ImageSets', 'Segmentation', f'{split}.txt'), rep):
            img = os.path.join(voc12, 'JPEGImages', f'{image_id}.jpg')
            label = os.path.join(voc12, 'SegmentationClass', f'{image_id}.png')
            size = None
            if not os.path.isfile(img):
                rep.add(img, f'missing image for id {image_id} listed in ImageSets/Segmentation/{split}.txt')
            else:
                try:
                    size = _jpeg_size(img)
                except (OSError, ValueError) as e:
                    rep.add(img, f'unreadable JPEG ({e})')
            if not os.path.isfile(label):
                rep.add(label, f'missing label map for id {image_id} listed in ImageSets/Segmentation/'
                               f'{split}.txt; expected an 8-bit palette PNG')
                continue
            try:
                lw, lh, depth, ctype = _png_header(label)
            except (OSError, ValueError) as e:
                rep.add(label, f'unreadable label map ({e})')
                continue
            if size is not None and (lw, lh) != size:
                rep.add(label, f'size {lw}x{lh}; expected {size[0]}x{size[1]} like its image')
            if depth != 8 or ctype not in (0, 3):
                rep.add(label, f'bit depth {depth}, colour type {ctype}; expected an 8-bit palette PNG')
                continue
            values = _label_values(label)
            if values is not None and not values <= allowed:
                rep.add(label, f'label values {sorted(values - allowed)}; expected 0..20 or 255')
    for year, lists in (('VOC2007', ('trainval', 'test')), ('VOC2012', ('trainval',))):
        base = os.path.join(directory, year)
        for listing in lists:
            for image_id in _read_ids(os.path.join(base, 'ImageSets', 'Main', f'{listing}.txt'), rep):
                img = os.path.join(base, 'JPEGImages', f'{image_id}.jpg')
                if not os.path.isfile(img):
                    rep.add(img, f'missing image for id {image_id} listed in ImageSets/Main/{listing}.txt')
                _check_voc_xml(os.path.join(base, 'Annotations', f'{image_id}.xml'), img, rep)


def _check_coco(directory, rep):
    known = {cid for cid, _, _ in COCO_CATEGORIES}
    for split in ('train', 'val'):
        ann_path = os.path.join(directory, 'annotations', f'instances_{split}2017.json')
        try:
            with open(ann_path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            rep.add(ann_path, f'unreadable COCO annotation file ({e})')
            continue
        missing = [k for k in ('images', 'annotations', 'categories') if k not in doc]
        if missing:
            rep.add(ann_path, f'missing keys {missing}; expected info/licenses/images/annotations/categories')
            continue
        cats = {c.get('id') for c in doc['categories']}
        if not cats <= known:
            rep.add(ann_path, f'category ids {sorted(cats - known)} are not COCO ids')
        images = {}
        for im in doc['images']:
            images[im.get('id')] = im
            path = os.path.join(directory, f'{split}2017', str(im.get('file_name')))
            if not os.path.isfile(path):
                rep.add(path, f'missing image for image id {im.get("id")} in {ann_path}')
                continue
            try:
                if _jpeg_size(path) != (im.get('width'), im.get('height')):
                    rep.add(path, f'size {_jpeg_size(path)}; {ann_path} says '
                                  f'{im.get("width")}x{im.get("height")}')
            except (OSError, ValueError) as e:
                rep.add(path, f'unreadable JPEG ({e})')
        if len(images) != len(doc['images']):
            rep.add(ann_path, 'duplicate image ids')
        ann_ids = [a.get('id') for a in doc['annotations']]
        if len(set(ann_ids)) != len(ann_ids):
            rep.add(ann_path, 'duplicate annotation ids (mmdet asserts they are unique)')
        for a in doc['annotations']:
            im = images.get(a.get('image_id'))
            where = f'{ann_path} (annotation id {a.get("id")})'
            if im is None:
                rep.add(where, f'image_id {a.get("image_id")} is not in "images"')
                continue
            if a.get('category_id') not in cats:
                rep.add(where, f'category_id {a.get("category_id")} is not in "categories"')
            x, y, w, h = a.get('bbox', (0, 0, 0, 0))
            if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= im['width'] and y + h <= im['height']):
                rep.add(where, f'bbox {a.get("bbox")}; expected [x, y, w, h] with w, h > 0 inside '
                               f'{im["width"]}x{im["height"]}')
            if not a.get('area', 0) > 0:
                rep.add(where, 'area must be > 0')
            seg = a.get('segmentation')
            if isinstance(seg, list) and any(len(p) < 6 or len(p) % 2 for p in seg):
                rep.add(where, 'polygons need an even number (>= 6) of coordinates')


_CHECKERS = {'cityscapes': _check_cityscapes, 'voc': _check_voc, 'coco': _check_coco}


def check(root='data', datasets=DATASETS):
    """Validate dataset layouts under ``root``; returns a list of 'path: problem' strings (empty if OK).

    Works on real datasets too; where this generator's manifest exists, the file hashes are checked.
    """
    errors = []
    for dataset in datasets:
        directory = os.path.join(root, DATASET_DIRS[dataset])
        if not os.path.isdir(directory):
            errors.append(f'{directory}: missing; run `python data/generate.py --root {root} '
                          f'--datasets {dataset}` or place the real dataset there (data/README.md)')
            continue
        rep = _Report()
        _CHECKERS[dataset](directory, rep)
        manifest = read_manifest(directory)
        if manifest is not None:
            rep.errors += _manifest_problems(directory, manifest)
        errors += rep.errors
    return errors

