#!/usr/bin/env python
"""Generate small synthetic datasets in the exact layouts of Cityscapes, PASCAL VOC and COCO.

The stock OpenMMLab dataset classes (mmseg's ``CityscapesDataset`` and ``PascalVOCDataset``, mmdet's
``CocoDataset`` and ``VOCDataset``) load the output through the stock ``_base_`` dataset configs;
only the image scale has to change (see ``configs/_base_/datasets/*_bundled.py`` and data/README.md).

The content is built so that attention matters: every object in an image looks alike (the same
family of textured blobs, whatever its class), and one *sign* near the image centre decides the class
of all of them (horizontal stripes: person, vertical stripes: bicycle, checkerboard: car). A pixel of
an object can be labelled only by relating it to the sign, which is up to ~130 px away.

Determinism: everything is drawn from the raw 64-bit stream of numpy's PCG64 (numpy keeps bit-generator
streams stable across versions and platforms) and computed with integer or plain IEEE arithmetic; the
PNG and JPEG encoders below are part of this file. So the bytes depend on the seed and the counts only,
not on the machine, numpy's distribution code, zlib or libjpeg.

Usage (from the repository root)::

    python data/generate.py                          # all datasets into ./data, 48 train / 16 val
    python data/generate.py --datasets voc --num-train 8 --num-val 4 --root /tmp/d
    python data/generate.py --check                  # validate what is under ./data

The file needs only numpy and the standard library. It is a script, not a package module: import it
by path, e.g. ``importlib.util.spec_from_file_location('attnplug_data_generate', 'data/generate.py')``,
then call ``generate(...)`` and ``check(...)``.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time
import xml.etree.ElementTree as ET
import zlib

import numpy as np

GENERATOR_VERSION = 1
MANIFEST_NAME = '.attnplug_manifest.json'
DATASETS = ('cityscapes', 'voc', 'coco')
DATASET_DIRS = {'cityscapes': 'cityscapes', 'voc': 'VOCdevkit', 'coco': 'coco'}

# The three object classes. Index k is what the sign encodes; each dataset maps it to its own ids.
OBJECT_CLASSES = ('person', 'bicycle', 'car')
SIGN_PATTERNS = ('horizontal stripes', 'vertical stripes', 'checkerboard')
# Colour of the dark bands of the sign; redundant with the pattern so that a fragment of a cropped
# sign still tells the class. The hues are 120 degrees apart, beyond the +-36 degree hue jitter of
# mmseg's PhotoMetricDistortion.
SIGN_COLORS = ((200, 40, 40), (40, 150, 60), (40, 70, 200))
SIGN_LIGHT = (235, 235, 235)
SIGN_BAND = 4  # px; the pattern period is 8 px, still 4 px after RandomResize's smallest ratio 0.5

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

# Scene parameters per dataset: sign side, object semi-axes, objects per image, minimum gap (px)
# between the sign and any object. VOC boxes must span >= 32 px: mmdet's voc0712.py ignores smaller
# ones in training (filter_cfg bbox_min_size=32).
SCENES = {
    'cityscapes': dict(sign=(20, 26), major=(14, 32), minor=(10, 20), n_objects=(3, 5), gap=10),
    'voc': dict(sign=(36, 42), major=(20, 32), minor=(18, 28), n_objects=(2, 4), gap=8),
    'coco': dict(sign=(28, 40), major=(16, 38), minor=(12, 28), n_objects=(3, 5), gap=10),
}
STREAM_CODES = {'cityscapes': 1, 'voc2012': 2, 'voc2007': 3, 'coco': 4}
SPLIT_CODES = {'train': 0, 'val': 1}


# ----------------------------------------------------------------------------------------------
# Deterministic random numbers
# ----------------------------------------------------------------------------------------------
class _Random:
    """Uniform draws from the raw stream of numpy's PCG64, seeded by a SeedSequence of ints.

    numpy guarantees bit-generator streams across versions, but not the distributions of
    ``Generator`` methods; deriving every draw from raw bits keeps the data identical everywhere.
    """

    def __init__(self, *entropy):
        self._bits = np.random.PCG64(np.random.SeedSequence([int(e) for e in entropy]))

    def uniform(self, low=0.0, high=1.0, size=None):
        n = 1 if size is None else int(np.prod(size))
        raw = self._bits.random_raw(n)
        u = (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)  # [0, 1), 53 bits
        u = low + u * (high - low)
        return float(u[0]) if size is None else u.reshape(size)

    def integers(self, low, high, size=None):
        """Integers in [low, high)."""
        u = self.uniform(size=size)
        if size is None:
            return min(int(low + math.floor(u * (high - low))), high - 1)
        return np.minimum(low + np.floor(u * (high - low)).astype(np.int64), high - 1)

    def permutation(self, n):
        keys = self.uniform(size=(n,))
        return [int(i) for i in np.argsort(keys, kind='stable')]


def _image_random(seed, stream, split, index):
    return _Random(seed, STREAM_CODES[stream], SPLIT_CODES[split], index)


def _balanced_classes(seed, stream, split, n):
    """Class index per image: every consecutive triple holds each class once, in a random order.

    The class of image i does not depend on the total count, so a smaller run is a prefix.
    """
    classes = []
    for block in range((n + 2) // 3):
        classes += _Random(seed, STREAM_CODES[stream], SPLIT_CODES[split], 1_000_000 + block).permutation(3)
    return classes[:n]


# ----------------------------------------------------------------------------------------------
# Geometry: polygons, rasterisation, morphology
# ----------------------------------------------------------------------------------------------
def _unit_circle(n=32):
    """cos/sin of k*2pi/n rounded to 1e-9; rounding makes them identical on every libm."""
    table = []
    for k in range(n):
        c, s = math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)
        for v in (c, s):  # guard against a libm ulp flipping the rounding
            frac = abs(v * 1e9 - math.floor(v * 1e9) - 0.5)
            assert frac > 1e-4, 'unit-circle constant too close to a rounding tie'
        table.append((round(c, 9), round(s, 9)))
    return np.array(table, dtype=np.float64)


_CIRCLE = _unit_circle(32)


def _ellipse_polygon(cx, cy, a, b, rotation_step):
    """32-vertex ellipse with semi-axes (a, b), rotated by rotation_step * 22.5 degrees.

    Vertices are rounded to 0.01 px (COCO polygons carry two decimals) before anything is rasterised,
    so the mask, the polygon, the box and the area always agree.
    """
    cos_r, sin_r = _CIRCLE[(2 * rotation_step) % 32]
    x = a * _CIRCLE[:, 0]
    y = b * _CIRCLE[:, 1]
    px = cx + (x * cos_r - y * sin_r)
    py = cy + (x * sin_r + y * cos_r)
    return np.round(np.stack([px, py], axis=1), 2)


def _rasterize(polygon, height, width):
    """Boolean mask of the pixels whose centres lie inside the polygon (even-odd rule)."""
    mask = np.zeros((height, width), dtype=bool)
    x0 = max(int(math.floor(polygon[:, 0].min())), 0)
    x1 = min(int(math.ceil(polygon[:, 0].max())) + 1, width)
    y0 = max(int(math.floor(polygon[:, 1].min())), 0)
    y1 = min(int(math.ceil(polygon[:, 1].max())) + 1, height)
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    inside = np.zeros(px.shape, dtype=bool)
    xa, ya = polygon[:, 0], polygon[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    for i in range(len(polygon)):
        if ya[i] == yb[i]:
            continue
        crosses = (ya[i] > py) != (yb[i] > py)
        x_cross = xa[i] + (py - ya[i]) * (xb[i] - xa[i]) / (yb[i] - ya[i])
        inside ^= crosses & (px < x_cross)
    mask[y0:y1, x0:x1] = inside
    return mask


def _shift_or(mask, radius):
    """Binary dilation with a (2r+1)^2 square."""
    out = mask.copy()
    padded = np.pad(mask, radius)
    h, w = mask.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out |= padded[radius + dy:radius + dy + h, radius + dx:radius + dx + w]
    return out


def _dilate(mask, radius):
    return _shift_or(mask, radius) if radius > 0 else mask


def _erode(mask, radius):
    return ~_shift_or(~mask, radius) if radius > 0 else mask


def _to_uint8(x):
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Encoders: PNG (stored deflate) and baseline JPEG (integer DCT, optimal Huffman tables)
# ----------------------------------------------------------------------------------------------
def _png_chunk(tag, data):
    return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data))


def encode_png(array, palette=None):
    """PNG bytes of an (H, W) gray/palette or (H, W, 3|4) RGB(A) uint8 array.

    The image data are deflate *stored* blocks (no compression), which every PNG decoder reads and
    which, unlike zlib's or zlib-ng's compressors, give the same bytes on every machine.
    """
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    if array.ndim == 2:
        color_type, channels = (3 if palette is not None else 0), 1
    else:
        channels = array.shape[2]
        color_type = {3: 2, 4: 6}[channels]
    rows = array.astype(np.uint8).reshape(h, w * channels)
    raw = np.zeros((h, rows.shape[1] + 1), dtype=np.uint8)  # filter type 0 on every row
    raw[:, 1:] = rows
    data = raw.tobytes()
    stream = [b'\x78\x01']
    for start in range(0, len(data), 65535):
        block = data[start:start + 65535]
        final = 1 if start + 65535 >= len(data) else 0
        stream.append(struct.pack('<BHH', final, len(block), len(block) ^ 0xFFFF) + block)
    stream.append(struct.pack('>I', zlib.adler32(data)))
    out = [b'\x89PNG\r\n\x1a\n',
           _png_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, color_type, 0, 0, 0))]
    if palette is not None:
        out.append(_png_chunk(b'PLTE', np.asarray(palette, dtype=np.uint8).tobytes()))
    out.append(_png_chunk(b'IDAT', b''.join(stream)))
    out.append(_png_chunk(b'IEND', b''))
    return b''.join(out)


def _zigzag_order():
    cells = [(r, c) for r in range(8) for c in range(8)]
    cells.sort(key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]))
    return np.array([r * 8 + c for r, c in cells])


_ZIGZAG = _zigzag_order()
_DCT_SHIFT = 12


def _dct_matrix():
    """Orthonormal 8-point DCT-II scaled by 2**12 and rounded: JPEG's FDCT in integers (A.3.3)."""
    t = np.zeros((8, 8), dtype=np.int64)
    for u in range(8):
        alpha = math.sqrt(1 / 8) if u == 0 else 0.5
        for x in range(8):
            v = (1 << _DCT_SHIFT) * alpha * math.cos((2 * x + 1) * u * math.pi / 16)
            assert abs(v - math.floor(v) - 0.5) > 1e-4, 'DCT constant too close to a rounding tie'
            t[u, x] = int(math.floor(v + 0.5))
    return t


_DCT = _dct_matrix()
# ITU-T T.81 Annex K.1 quantisation tables (natural order)
_Q_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_Q_CHROMA = np.full(64, 99, dtype=np.int64)
_Q_CHROMA[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = [17, 18, 24, 47, 18, 21, 26, 66, 24, 26,
                                                               56, 47, 66]


def _quant_table(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # IJG quality scaling
    return np.clip((base * scale + 50) // 100, 1, 255)


def _huffman_table(freq):
    """Optimal JPEG Huffman table (ITU-T T.81 Annex K.2) for symbol counts ``freq[0:256]``.

    Returns (bits[1..16], huffval, code[256], length[256]).
    """
    import heapq
    symbols = [s for s in range(256) if freq[s] > 0]
    # a pseudo-symbol with count 1 reserves the all-ones code, which JPEG forbids (K.2)
    heap = [(int(freq[s]), s, [s]) for s in symbols] + [(1, 256, [256])]
    heapq.heapify(heap)
    size = {s: 0 for s in symbols + [256]}
    order = 257
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            size[s] += 1
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    bits = [0] * 64
    for s in size:
        bits[size[s]] += 1
    for i in range(63, 16, -1):  # Figure K.3: limit code lengths to 16 bits
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # drop the reserved code
    huffval = sorted(symbols, key=lambda s: (size[s], s))
    code = np.zeros(256, dtype=np.int64)
    length = np.zeros(256, dtype=np.int64)
    c, k = 0, 0
    for n in range(1, 17):  # Annex C: canonical codes
        for _ in range(bits[n]):
            code[huffval[k]], length[huffval[k]] = c, n
            c += 1
            k += 1
        c <<= 1
    return bits[1:17], huffval, code, length


def _magnitude_category(v):
    a = np.abs(v)
    return (a[:, None] >= (1 << np.arange(16))[None, :]).sum(axis=1)


def _pack_bits(values, lengths):
    """Concatenate (value, bit length) pairs MSB-first, pad with ones, stuff 0x00 after each 0xFF."""
    j = np.arange(16)[None, :]
    shift = np.clip(lengths[:, None] - 1 - j, 0, None)
    bits = ((values[:, None] >> shift) & 1).astype(np.uint8)
    bits = bits[j < lengths[:, None]]
    pad = (-len(bits)) % 8
    bits = np.concatenate([bits, np.ones(pad, dtype=np.uint8)])
    data = np.packbits(bits)
    ff = np.nonzero(data == 0xFF)[0]
    return np.insert(data, ff + 1, 0).tobytes()


def encode_jpeg(rgb, quality=90):
    """Baseline JFIF JPEG (4:2:0) of an (H, W, 3) uint8 array, in integer arithmetic throughout."""
    h, w = rgb.shape[:2]
    ph, pw = (-h) % 16, (-w) % 16
    px = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode='edge').astype(np.int64)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    # JFIF colour conversion with libjpeg's 16-bit fixed-point constants
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 32767) >> 16

    def subsample(p):
        return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) >> 2

    cb, cr = subsample(np.clip(cb, 0, 255)), subsample(np.clip(cr, 0, 255))
    mh, mw = (h + ph) // 16, (w + pw) // 16
    y_blocks = y.reshape(mh, 2, 8, mw, 2, 8).transpose(0, 3, 1, 4, 2, 5).reshape(mh * mw, 4, 8, 8)
    c_blocks = [c.reshape(mh, 8, mw, 8).transpose(0, 2, 1, 3).reshape(mh * mw, 1, 8, 8) for c in (cb, cr)]
    blocks = np.concatenate([y_blocks] + c_blocks, axis=1).reshape(-1, 8, 8) - 128  # MCU scan order
    comp = np.tile(np.array([0, 0, 0, 0, 1, 2]), mh * mw)

    q_luma, q_chroma = _quant_table(_Q_LUMA, quality), _quant_table(_Q_CHROMA, quality)
    coef = _DCT[None] @ blocks @ _DCT.T[None]  # = FDCT * 2**24, exact
    divisor = np.where((comp == 0)[:, None], q_luma[None], q_chroma[None]).reshape(-1, 8, 8)
    divisor = divisor << (2 * _DCT_SHIFT)
    quant = np.sign(coef) * ((2 * np.abs(coef) + divisor) // (2 * divisor))
    zz = quant.reshape(-1, 64)[:, _ZIGZAG]

    # DC differences per component
    dc = zz[:, 0].copy()
    for c in range(3):
        idx = np.nonzero(comp == c)[0]
        dc[idx] = np.diff(zz[idx, 0], prepend=0)
    n_blocks = len(zz)
    # events: (block, sort key, table, symbol, extra value, extra length)
    ev_block, ev_key, ev_table, ev_sym, ev_val, ev_len = [], [], [], [], [], []

    def add(block, key, table, sym, val, length):
        ev_block.append(block), ev_key.append(key), ev_table.append(table)
        ev_sym.append(sym), ev_val.append(val), ev_len.append(length)

    blocks_idx = np.arange(n_blocks)
    dc_size = _magnitude_category(dc)
    add(blocks_idx, np.zeros(n_blocks, np.int64), np.where(comp == 0, 0, 1), dc_size,
        np.where(dc < 0, dc + (1 << dc_size) - 1, dc), dc_size)
    ac_table = np.where(comp == 0, 2, 3)
    nz_block, nz_pos = np.nonzero(zz[:, 1:])
    nz_pos = nz_pos + 1
    if len(nz_block):
        prev = np.concatenate([[0], nz_pos[:-1]])
        prev[np.concatenate([[True], nz_block[1:] != nz_block[:-1]])] = 0
        run = nz_pos - prev - 1
        zrl = run // 16
        rep = np.repeat(np.arange(len(nz_block)), zrl)
        if len(rep):
            add(nz_block[rep], 2 * nz_pos[rep] - 1, ac_table[nz_block[rep]], np.full(len(rep), 0xF0),
                np.zeros(len(rep), np.int64), np.zeros(len(rep), np.int64))
        v = zz[nz_block, nz_pos]
        size = _magnitude_category(v)
        add(nz_block, 2 * nz_pos, ac_table[nz_block], ((run % 16) << 4) | size,
            np.where(v < 0, v + (1 << size) - 1, v), size)
    eob = np.nonzero(zz[:, 63] == 0)[0]
    add(eob, np.full(len(eob), 200), ac_table[eob], np.zeros(len(eob), np.int64),
        np.zeros(len(eob), np.int64), np.zeros(len(eob), np.int64))

    cat = [np.concatenate(a).astype(np.int64) for a in (ev_block, ev_key, ev_table, ev_sym, ev_val, ev_len)]
    order = np.lexsort((cat[1], cat[0]))
    table, sym, val, vlen = (a[order] for a in cat[2:])
    tables = [_huffman_table(np.bincount(sym[table == t], minlength=256)) for t in range(4)]
    codes = np.stack([t[2] for t in tables])
    lengths = np.stack([t[3] for t in tables])
    values = np.empty(2 * len(sym), np.int64)
    bit_lengths = np.empty(2 * len(sym), np.int64)
    values[0::2], bit_lengths[0::2] = codes[table, sym], lengths[table, sym]
    values[1::2], bit_lengths[1::2] = val, vlen
    scan = _pack_bits(values, bit_lengths)

    def segment(marker, payload):
        return struct.pack('>BBH', 0xFF, marker, len(payload) + 2) + payload

    out = [b'\xff\xd8', segment(0xE0, b'JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00')]
    out.append(segment(0xDB, bytes([0]) + bytes(q_luma[_ZIGZAG].tolist())
                       + bytes([1]) + bytes(q_chroma[_ZIGZAG].tolist())))
    out.append(segment(0xC0, struct.pack('>BHHB', 8, h, w, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])))
    dht = b''
    for t, tc_th in zip(tables, (0x00, 0x01, 0x10, 0x11)):
        dht += bytes([tc_th]) + bytes(t[0]) + bytes(t[1])
    out.append(segment(0xC4, dht))
    out.append(segment(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])))
    out.append(scan)
    out.append(b'\xff\xd9')
    return b''.join(out)


# ----------------------------------------------------------------------------------------------
# Scene synthesis
# ----------------------------------------------------------------------------------------------
def _smooth_field(rng, height, width, grid, low, high):
    """A smooth random colour field: a coarse grid of random colours, bilinearly upsampled."""
    gh, gw = grid
    coarse = rng.uniform(low, high, size=(gh, gw, 3))
    ys = (np.arange(height) + 0.5) * ((gh - 1) / height)
    xs = (np.arange(width) + 0.5) * ((gw - 1) / width)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x1] * fx
    bottom = coarse[y1][:, x0] * (1 - fx) + coarse[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def _sign_pattern(size, cls):
    """RGB pixels of the sign: a 2 px dark frame around the class pattern."""
    yy, xx = np.mgrid[0:size, 0:size]
    band_y, band_x = ((yy - 2) // SIGN_BAND) % 2, ((xx - 2) // SIGN_BAND) % 2
    dark = (band_y, band_x, (band_y + band_x) % 2)[cls].astype(bool)
    pix = np.where(dark[..., None], np.array(SIGN_COLORS[cls], np.float64), np.array(SIGN_LIGHT, np.float64))
    frame = (yy < 2) | (xx < 2) | (yy >= size - 2) | (xx >= size - 2)
    pix[frame] = (20.0, 20.0, 20.0)
    return pix


def _place_objects(rng, height, width, scene, sign_box, bottom_limit):
    """Ellipses of one appearance family at random non-overlapping places away from the sign."""
    sx0, sy0, s = sign_box
    gap = scene['gap']
    lo = scene['major'][0]
    target = rng.integers(scene['n_objects'][0], scene['n_objects'][1] + 1)
    placed = []
    for attempt in range(600):
        if len(placed) == target or (attempt >= 300 and placed):
            break
        a, b = rng.uniform(*scene['major']), rng.uniform(*scene['minor'])
        rot = rng.integers(0, 16)
        cx, cy = rng.uniform(2 + lo, width - 2 - lo), rng.uniform(2 + lo, bottom_limit - 2 - lo)
        poly = _ellipse_polygon(cx, cy, a, b, rot)
        bx0, by0 = poly[:, 0].min(), poly[:, 1].min()
        bx1, by1 = poly[:, 0].max(), poly[:, 1].max()
        if bx0 < 2 or by0 < 2 or bx1 > width - 2 or by1 > bottom_limit - 2:
            continue
        # keep the box of the object at least `gap` px from the sign on one axis
        if not (bx1 + gap <= sx0 or bx0 >= sx0 + s + gap or by1 + gap <= sy0 or by0 >= sy0 + s + gap):
            continue
        if any(not (bx1 + 3 <= q[1] or bx0 >= q[3] + 3 or by1 + 3 <= q[2] or by0 >= q[4] + 3)
               for q in placed):
            continue
        placed.append((poly, bx0, by0, bx1, by1))
    if not placed:
        raise RuntimeError('could not place any object; the scene parameters do not fit the image')
    return [p[0] for p in placed]


def _paint_object(rng, canvas, polygon):
    """One member of the object family: a warm blob with dark spots and a dark 2 px rim.

    Every draw below is independent of the class, so objects of different classes share one
    appearance distribution.
    """
    h, w = canvas.shape[:2]
    mask = _rasterize(polygon, h, w)
    base = np.array([rng.uniform(150, 215), rng.uniform(105, 165), rng.uniform(55, 115)])
    ys, xs = np.nonzero(mask)
    # a gentle linear shading across the blob (integer sums keep the centre exact)
    direction = _CIRCLE[rng.integers(0, 32)]
    span = max(int(xs.max() - xs.min()), int(ys.max() - ys.min()), 1)
    mx, my = int(xs.sum()) / len(xs), int(ys.sum()) / len(ys)
    shade = 1.0 + 0.15 * ((xs - mx) * direction[0] + (ys - my) * direction[1]) / span
    canvas[ys, xs] = base[None, :] * shade[:, None]
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(3, 7)):
        k = rng.integers(0, len(ys))
        radius = rng.uniform(1.5, 3.0)
        spot = mask & ((yy - ys[k]) ** 2 + (xx - xs[k]) ** 2 <= radius * radius)
        canvas[spot] = base * 0.45
    rim = mask & ~_erode(mask, 2)
    canvas[rim] = np.array([35.0, 30.0, 25.0]) * rng.uniform(0.8, 1.2)
    return mask


def render_scene(rng, height, width, cls, dataset):
    """Render one image. Returns a dict with the RGB image, the sign box and the objects.

    ``cls`` (0, 1, 2) is the class of every object and the pattern of the sign.
    The sign covers the image centre (it is shifted by at most a quarter of its side), so any crop
    that keeps at least half of each side of the image contains part of it; the objects stay ``gap`` px
    or more away from it.
    """
    scene = SCENES[dataset]
    canvas = np.zeros((height, width, 3), dtype=np.float64)
    info = dict(cls=cls)
    bottom_limit = height
    if dataset == 'cityscapes':
        horizon = rng.integers(int(0.35 * height), int(0.5 * height) + 1)
        sky = _smooth_field(rng, horizon, width, (2, 4), 0, 1)
        sky_top = np.array([rng.uniform(100, 150), rng.uniform(140, 180), rng.uniform(190, 235)])
        canvas[:horizon] = sky_top * (0.85 + 0.3 * sky)
        road = _smooth_field(rng, height - horizon, width, (3, 5), -12, 12)
        gray = rng.uniform(70, 115)
        canvas[horizon:] = np.array([gray + 6, gray, gray + 8]) + road
        # the ego vehicle's bonnet along the bottom edge (labelId 1, trainId 255 in Cityscapes)
        hood = rng.integers(5, 10)
        xs = (np.arange(width) + 0.5 - width / 2) / (width / 2)
        hood_top = height - hood + np.floor(3 * xs * xs + 0.5).astype(int)
        hood_mask = np.arange(height)[:, None] >= hood_top[None, :]
        canvas[hood_mask] = np.array([rng.uniform(25, 50)] * 3)
        info.update(horizon=horizon, hood_mask=hood_mask)
        bottom_limit = height - hood - 1
    else:
        canvas[:] = _smooth_field(rng, height, width, (3, 4), 40, 215)

    s = rng.integers(scene['sign'][0], scene['sign'][1] + 1)
    jitter = s // 4
    sx0 = (width - s) // 2 + rng.integers(-jitter, jitter + 1)
    sy0 = (height - s) // 2 + rng.integers(-jitter, jitter + 1)
    canvas[sy0:sy0 + s, sx0:sx0 + s] = _sign_pattern(s, cls)
    info['sign_box'] = (sx0, sy0, s)

    polygons = _place_objects(rng, height, width, scene, info['sign_box'], bottom_limit)
    info['objects'] = [dict(polygon=p, mask=_paint_object(rng, canvas, p)) for p in polygons]
    amplitude = rng.integers(3, 8)
    noise = rng.integers(-amplitude, amplitude + 1, size=(height, width, 3))
    info['image'] = _to_uint8(canvas + noise)
    return info


def _sign_mask(info, height, width):
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, s = info['sign_box']
    mask[y0:y0 + s, x0:x0 + s] = True
    return mask


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


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data', help='output root (default: data)')
    parser.add_argument('--datasets', nargs='+', choices=DATASETS, default=list(DATASETS))
    parser.add_argument('--num-train', type=int, default=48, help='train images per dataset (48)')
    parser.add_argument('--num-val', type=int, default=16, help='val/test images per dataset (16)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if up to date; replace directories not made by this script')
    parser.add_argument('--check', action='store_true', help='validate the datasets under --root and exit')
    args = parser.parse_args(argv)
    if args.check:
        errors = check(args.root, args.datasets)
        for line in errors[:200]:
            print(line)
        if len(errors) > 200:
            print(f'... and {len(errors) - 200} more problems')
        print(f'{len(errors)} problem(s) in {", ".join(args.datasets)} under {args.root}' if errors
              else f'{", ".join(args.datasets)} under {args.root}: OK')
        return 1 if errors else 0
    try:
        generate(args.root, args.datasets, args.num_train, args.num_val, args.seed, args.force)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
