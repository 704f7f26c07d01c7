"""The synthetic scenes: deterministic random numbers, geometry and the images themselves.

Every object in an image looks alike (the same family of textured blobs, whatever its class), and
one *sign* near the image centre decides the class of all of them. Everything is drawn from the
raw 64-bit stream of numpy's PCG64 and computed with integer or plain IEEE arithmetic, so a
scene depends on the seed and its index only.
"""
import math

import numpy as np

# The three object classes. Index k is what the sign encodes; each dataset maps it to its own ids.
OBJECT_CLASSES = ('person', 'bicycle', 'car')
SIGN_PATTERNS = ('horizontal stripes', 'vertical stripes', 'checkerboard')
# Colour of the dark bands of the sign; redundant with the pattern so that a fragment of a cropped
# sign still tells the class. The hues are 120 degrees apart, beyond the +-36 degree hue jitter of
# mmseg's PhotoMetricDistortion.
SIGN_COLORS = ((200, 40, 40), (40, 150, 60), (40, 70, 200))
SIGN_LIGHT = (235, 235, 235)
SIGN_BAND = 4  # px; the pattern period is 8 px, still 4 px after RandomResize's smallest ratio 0.5

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

