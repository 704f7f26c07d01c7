"""How well a segmentation model can score on the bundled cue classes without reading the cue.

On the bundled Cityscapes (``data/README.md``) the class of every object, *person*,
*bicycle* or *car*, is decided only by the sign at the image centre: colour, texture, size and
shape carry no information about it. A model that has not learned to read the sign can still
segment the objects, but whatever class it gives them is independent of their true class. The
leaderboards report ``cue_classes_mIoU`` (the mean IoU of the three classes, pooled over the val
set as mmseg computes it), so the question "did this seed learn the cue?" needs the scores such
a cue-blind model reaches by luck. With one object class per image and only 16 val images, luck
goes far: an object class guessed right on a few more images than expected moves the score a
lot.

The model of a cue-blind prediction used here is the most generous one: every object is
segmented perfectly (any error only lowers the IoU), and each object (an image's pixels of one
cue class) gets one class, drawn independently of its true class with probabilities ``p``.
:func:`chance_levels` simulates that over the real val labels for every ``p`` on a grid of the
simplex and keeps, for each percentile, the largest value over ``p``: a seed whose score is
above the 95th percentile scores higher than 95 % of the draws of every such guesser.
"""
import glob
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .bundled import CUE_CLASSES

__all__ = ['CUE_CLASSES', 'LABEL_SUFFIX', 'cue_objects', 'blind_scores', 'chance_levels']

#: The label maps the bundled Cityscapes val set is read from (mmseg's CityscapesDataset default).
LABEL_SUFFIX = '_gtFine_labelTrainIds.png'


def cue_objects(data_root: str, split: str = 'val') -> Tuple[np.ndarray, np.ndarray, int]:
    """The cue-class objects of a Cityscapes-layout split: ``(pixels, classes, images)``, one
    entry per (image, cue class) present, with its pixel count and the index of its class in
    :data:`CUE_CLASSES`; ``images`` is the number of label maps."""
    from mmseg.datasets import CityscapesDataset
    from PIL import Image
    names = list(CityscapesDataset.METAINFO['classes'])
    ids = [names.index(c) for c in CUE_CLASSES]
    folder = osp.join(data_root, 'gtFine', split)
    paths = sorted(glob.glob(osp.join(folder, '**', '*' + LABEL_SUFFIX), recursive=True))
    if not paths:
        raise ValueError(f'cue_objects: no *{LABEL_SUFFIX} label maps under {folder}; expected '
                         'the Cityscapes layout that data/generate.py writes '
                         '(python data/generate.py --root data)')
    pixels: List[int] = []
    classes: List[int] = []
    for path in paths:
        label = np.asarray(Image.open(path))
        for k, train_id in enumerate(ids):
            count = int((label == train_id).sum())
            if count:
                pixels.append(count)
                classes.append(k)
    if not pixels:
        raise ValueError(f'cue_objects: the {len(paths)} label maps under {folder} hold no pixel '
                         f'of {", ".join(CUE_CLASSES)}')
    return np.array(pixels, dtype=np.float64), np.array(classes), len(paths)


def blind_scores(pixels: np.ndarray, classes: np.ndarray, p: Sequence[float], trials: int,
                 rng: np.random.Generator) -> np.ndarray:
    """``trials`` draws of the pooled mean IoU (in %) of the cue classes for objects labelled
    at random with class probabilities ``p``, independently of their true ``classes``."""
    guess = rng.choice(len(CUE_CLASSES), size=(trials, len(pixels)), p=np.asarray(p))
    total = np.zeros(trials)
    for k in range(len(CUE_CLASSES)):
        said = guess == k
        tp = (said & (classes == k)) @ pixels
        union = said @ pixels + pixels[classes == k].sum() - tp
        total += np.divide(tp, union, out=np.zeros(trials), where=union > 0)
    return 100 * total / len(CUE_CLASSES)


def chance_levels(pixels: np.ndarray, classes: np.ndarray, trials: int = 20000,
                  steps: int = 10, percentiles: Sequence[float] = (50, 95, 99),
                  seed: int = 0) -> Dict[str, object]:
    """The scores of cue-blind predictions over every ``p`` of the grid of the simplex with
    ``steps`` steps per side: for each percentile, its largest value over ``p`` and that ``p``;
    and the largest mean. ``trials`` draws per ``p``, from one seeded generator."""
    rng = np.random.default_rng(seed)
    best: Dict[str, Dict[str, object]] = {}
    best_mean = {'value': -1.0, 'p': None}
    for a in range(steps + 1):
        for b in range(steps + 1 - a):
            p = (a / steps, b / steps, (steps - a - b) / steps)
            scores = blind_scores(pixels, classes, p, trials, rng)
            if scores.mean() > best_mean['value']:
                best_mean = {'value': float(scores.mean()), 'p': p}
            for q in percentiles:
                value = float(np.percentile(scores, q))
                key = f'p{q:g}'
                if key not in best or value > best[key]['value']:
                    best[key] = {'value': value, 'p': p}
    return {'mean': best_mean, **best}
