"""COCO annotations checked when they are loaded: ``attnplug.CheckedCocoDataset``.

mmdet 3.3.0's ``CocoDataset`` trusts the JSON. Some faults it skips without a
word, some it lets through, and some crash the run, at load time without naming
the annotation or in the middle of an epoch:

=================================  ===============================  ============================
fault in the JSON                  stock ``CocoDataset``            ``CheckedCocoDataset``
=================================  ===============================  ============================
``category_id`` not a category     skipped silently                 reported, dropped
box entirely outside the image     skipped silently                 reported, dropped
box partly outside the image       kept (``Resize`` clips it)       reported, clipped
box under 1 px wide or high        skipped silently                 reported, dropped
``area`` <= 0                      skipped silently                 reported, dropped
``area`` missing                   ``KeyError`` at load             reported, set to box area
``bbox`` missing, not 4 numbers    ``KeyError``/``ValueError``      reported, dropped
NaN or inf in ``bbox``             NaN skipped silently, inf kept   reported, dropped
``image_id`` not an image          skipped silently                 reported, dropped
``id``/``category_id`` missing     ``KeyError`` (pycocotools)       reported, dropped
repeated annotation ``id``         ``AssertionError``, no ids       reported, repeats dropped
no ``segmentation`` (masks)        ``KeyError: 'mask'`` mid-epoch   reported, dropped
polygon with < 3 points            polygon skipped silently         reported, polygon dropped
image without ``width``/...        ``KeyError`` at load             reported, image dropped
image file missing                 ``FileNotFoundError`` mid-epoch  reported, image dropped
``width``/``height`` not the file  boxes checked and clipped        reported, size taken from
                                   against the wrong size, silently the file
=================================  ===============================  ============================

Every report names the image id and the annotation id. All checks run once,
before the first iteration, so a run either stops at build time with the full
list (``on_invalid='error'``) or trains on the cleaned annotations with a warning
that lists them (``on_invalid='drop'``, the default). The checks themselves are
a pure function, :func:`check_coco_annotations`, usable on any COCO dict.

The evaluator (mmdet's ``CocoMetric``) reads ``ann_file`` itself: cleaning here
changes what the model trains on, not the ground truth it is scored against.
"""
import json
import logging
import math
import os.path as osp
import warnings
from collections import Counter
from functools import partial
from numbers import Real
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmengine.fileio import LocalBackend, exists, get_file_backend
from mmengine.logging import print_log
from PIL import Image

from attnplug.registry import DATASETS

__all__ = [
    'CocoProblem', 'CocoAnnotationError', 'CocoAnnotationWarning', 'check_coco_annotations',
    'format_problems', 'CheckedCocoDataset'
]

# What was done about a problem (``CocoProblem.action``).
DROPPED_ANNOTATION = 'annotation dropped'
DROPPED_IMAGE = 'image dropped with its annotations'
CLIPPED_BOX = 'box clipped to the image'
SET_AREA = "'area' set to the box area"
DROPPED_POLYGONS = 'invalid polygons dropped'
SIZE_FROM_FILE = 'width and height taken from the file'


class CocoProblem(NamedTuple):
    """One fault found in a COCO annotation file.

    ``image_id`` and ``ann_id`` are None where the entry has none; ``kind`` is
    a short stable label for counting (e.g. ``'unknown category_id'``),
    ``detail`` the specifics and ``action`` what was done about it.
    """
    image_id: object
    ann_id: object
    kind: str
    detail: str
    action: str

    def __str__(self) -> str:
        where = f'image {self.image_id}'
        if self.ann_id is not None or self.kind.startswith('annotation'):
            where += f', annotation {self.ann_id}'
        return f'{where}: {self.kind}: {self.detail} -> {self.action}'


class CocoAnnotationError(ValueError):
    """Raised by ``CheckedCocoDataset(on_invalid='error')``; ``problems`` holds
    every :class:`CocoProblem` found."""

    def __init__(self, message: str, problems: List[CocoProblem]):
        super().__init__(message)
        self.problems = problems


class CocoAnnotationWarning(UserWarning):
    """Issued by ``CheckedCocoDataset(on_invalid='drop')`` when it cleaned annotations."""


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def _valid_polygon(poly) -> bool:
    return (isinstance(poly, (list, tuple)) and len(poly) >= 6 and len(poly) % 2 == 0
            and all(_is_number(v) for v in poly))


def _check_structure(coco) -> None:
    """Faults that no image can be blamed for: the file cannot be used at all."""
    if not isinstance(coco, dict):
        raise ValueError(f'a COCO annotation file holds a JSON object, got {type(coco).__name__}')
    for key in ('images', 'categories'):
        if not isinstance(coco.get(key), list):
            raise ValueError(f"a COCO annotation file needs a list '{key}', got "
                             f'{type(coco.get(key)).__name__}')
    if not isinstance(coco.get('annotations', []), list):
        raise ValueError("'annotations' must be a list, got "
                         f"{type(coco['annotations']).__name__}")
    for k, cat in enumerate(coco['categories']):
        if not isinstance(cat, dict) or 'id' not in cat or 'name' not in cat:
            raise ValueError(f"categories[{k}] needs an 'id' and a 'name', got {cat!r}")


def _check_images(images, image_exists, image_size=None
                  ) -> Tuple[Dict[object, dict], List[dict], list]:
    problems, kept, by_id = [], [], {}
    for k, img in enumerate(images):
        img_id = img.get('id') if isinstance(img, dict) else None
        fault = None
        if not isinstance(img, dict) or img_id is None:
            fault = ('image entry without an id', f'images[{k}] = {img!r:.80}')
        elif img_id in by_id:
            fault = ('repeated image id', f'images[{k}] repeats the id of an earlier entry')
        elif not isinstance(img.get('file_name'), str) or not img['file_name']:
            fault = ('image entry without a file_name', f"file_name={img.get('file_name')!r}")
        elif not all(_is_number(img.get(key)) and img[key] > 0 for key in ('width', 'height')):
            fault = ('image size missing or not positive',
                     f"width={img.get('width')!r}, height={img.get('height')!r}")
        elif image_exists is not None and not image_exists(img['file_name']):
            fault = ('image file not found', repr(img['file_name']))
        if fault:
            problems.append(CocoProblem(img_id, None, fault[0], fault[1], DROPPED_IMAGE))
            continue
        size = image_size(img['file_name']) if image_size is not None else None
        if size is not None and tuple(size) != (img['width'], img['height']):
            problems.append(CocoProblem(
                img_id, None, 'image size differs from the file',
                f"{img['width']}x{img['height']} in the JSON, {size[0]}x{size[1]} in "
                f"{img['file_name']!r}", SIZE_FROM_FILE))
            img = dict(img, width=size[0], height=size[1])
        by_id[img_id] = img
        kept.append(img)
    return by_id, kept, problems


def _check_box(bbox, width, height, tolerance, min_size):
    """Returns (fault, box): fault is (kind, detail, action) or None; box the box
    to keep (clipped where that was the fix), or None to drop the annotation."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return ('bbox is not [x, y, w, h]', f'bbox={bbox!r:.80}', DROPPED_ANNOTATION), None
    if not all(_is_number(v) for v in bbox):
        return ('bbox has a non-finite or non-numeric value', f'bbox={list(bbox)}',
                DROPPED_ANNOTATION), None
    x, y, w, h = bbox
    if w < min_size or h < min_size:
        return ('box smaller than the minimum size',
                f'bbox={list(bbox)} is {w:g}x{h:g} px, below {min_size:g} px',
                DROPPED_ANNOTATION), None
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return ('box outside the image',
                f'bbox={list(bbox)} does not overlap the image (w={width:g}, h={height:g})',
                DROPPED_ANNOTATION), None
    overhang = max(-x, -y, x + w - width, y + h - height)
    if overhang <= tolerance:
        return None, list(bbox)
    clipped = [x1, y1, x2 - x1, y2 - y1]
    if clipped[2] < min_size or clipped[3] < min_size:
        return ('box outside the image',
                f'bbox={list(bbox)} keeps {clipped[2]:g}x{clipped[3]:g} px inside the image '
                f'(w={width:g}, h={height:g}), below {min_size:g} px', DROPPED_ANNOTATION), None
    return ('box partly outside the image',
            f'bbox={list(bbox)} extends {overhang:g} px beyond the image (w={width:g}, '
            f'h={height:g})',
            CLIPPED_BOX), clipped


def _check_segmentation(seg, width, height):
    """Returns (fault, seg): as :func:`_check_box`, for an annotation's mask."""
    if not seg:
        return ('no segmentation', 'the pipeline loads masks (LoadAnnotations with_mask=True)',
                DROPPED_ANNOTATION), None
    if isinstance(seg, dict):  # RLE
        size = seg.get('size')
        if seg.get('counts') is None or size is None or list(size) != [height, width]:
            return ('invalid RLE segmentation',
                    f"RLE size={size!r} (image {height}x{width}), counts "
                    f"{'missing' if seg.get('counts') is None else 'present'}",
                    DROPPED_ANNOTATION), None
        return None, seg
    if not isinstance(seg, list):
        return ('invalid segmentation', f'type {type(seg).__name__}', DROPPED_ANNOTATION), None
    good = [p for p in seg if _valid_polygon(p)]
    bad = [len(p) if isinstance(p, (list, tuple)) else type(p).__name__ for p in seg
           if not _valid_polygon(p)]
    if not good:
        return ('no valid polygon',
                f'polygon coordinate counts {bad} (each needs an even number >= 6 of '
                'finite values)', DROPPED_ANNOTATION), None
    if bad:
        return ('invalid polygon',
                f'polygon coordinate counts {bad} (each needs an even number >= 6 of '
                'finite values)', DROPPED_POLYGONS), good
    return None, seg


def check_coco_annotations(coco: dict,
                           border_tolerance: float = 1.0,
                           min_box_size: float = 1.0,
                           require_masks: bool = False,
                           image_exists: Optional[Callable[[str], bool]] = None,
                           image_size: Optional[Callable[[str], Optional[Tuple[int, int]]]] = None
                           ) -> Tuple[dict, List[CocoProblem]]:
    """Check a COCO detection/instance annotation dict and clean it.

    Args:
        coco (dict): The parsed JSON (``images``, ``annotations``, ``categories``).
            It is not modified.
        border_tolerance (float): Pixels a box may extend beyond the image
            before it is reported and clipped (COCO's float boxes overshoot
            by rounding). Default: 1.0.
        min_box_size (float): Smallest box width and height kept, in pixels;
            mmdet's ``CocoDataset`` skips smaller ones. Default: 1.0.
        require_masks (bool): Check ``segmentation`` (polygons or RLE) too,
            as an instance-segmentation pipeline needs it. Default: False.
        image_exists (callable, optional): ``file_name -> bool``; images whose
            file is missing are dropped. Default: None (not checked).
        image_size (callable, optional): ``file_name -> (width, height)`` as the image
            will be decoded, or None where unknown. An image whose ``width``/``height``
            differ is reported and takes the file's size, against which its boxes are then
            checked. Default: None (not checked).

    Returns:
        tuple[dict, list[CocoProblem]]: A cleaned copy of ``coco`` (entries
        that had no fault are shared, not copied) and the problems found, in
        file order, images first.

    Raises:
        ValueError: The file's structure is unusable (``images`` or
            ``categories`` not a list, a category without ``id``/``name``).
    """
    _check_structure(coco)
    images, kept_images, problems = _check_images(coco['images'], image_exists, image_size)
    dropped_image_ids = {p.image_id for p in problems if p.action == DROPPED_IMAGE}
    cat_ids = {cat['id'] for cat in coco['categories']}
    seen_ann_ids = set()
    kept_anns = []
    for k, ann in enumerate(coco.get('annotations', [])):
        if not isinstance(ann, dict):
            problems.append(CocoProblem(None, None, 'annotation entry is not an object',
                                        f'annotations[{k}] = {ann!r:.80}', DROPPED_ANNOTATION))
            continue
        ann_id, img_id = ann.get('id'), ann.get('image_id')

        def report(kind, detail, action=DROPPED_ANNOTATION):
            problems.append(CocoProblem(img_id, ann_id, kind, detail, action))

        if img_id is not None and img_id in dropped_image_ids and img_id not in images:
            continue  # reported with its image
        if ann_id is None:
            report('annotation without an id', f'annotations[{k}]')
            continue
        if ann_id in seen_ann_ids:
            report('repeated annotation id', f'annotations[{k}] repeats an earlier id')
            continue
        seen_ann_ids.add(ann_id)
        if img_id not in images:
            report('unknown image_id', f"image_id {img_id!r} is not in 'images'")
            continue
        if ann.get('category_id') not in cat_ids:
            report('unknown category_id',
                   f"category_id {ann.get('category_id')!r} is not in 'categories'")
            continue
        width, height = images[img_id]['width'], images[img_id]['height']
        fault, box = _check_box(ann.get('bbox'), width, height, border_tolerance, min_box_size)
        if fault:
            report(*fault)
        if box is None:
            continue
        fixed = dict(ann, bbox=box) if fault else ann
        if 'area' not in ann:
            report('no area', "the annotation has no 'area'", SET_AREA)
            fixed = dict(fixed, area=box[2] * box[3])
        elif not _is_number(ann['area']) or ann['area'] <= 0:
            report('area not positive', f"area={ann['area']!r}")
            continue
        if require_masks:
            fault, seg = _check_segmentation(ann.get('segmentation'), width, height)
            if fault:
                report(*fault)
            if seg is None:
                continue
            if seg is not ann.get('segmentation'):
                fixed = dict(fixed, segmentation=seg)
        kept_anns.append(fixed)
    cleaned = dict(coco, images=kept_images, annotations=kept_anns)
    return cleaned, problems


def format_problems(source: str, problems: List[CocoProblem], max_listed: int = 20) -> str:
    """A report: the counts per kind, then the first ``max_listed`` problems."""
    images = {p.image_id for p in problems}
    counts = Counter(p.kind for p in problems)
    lines = [f'{source}: {len(problems)} problem(s) in {len(images)} image(s): ' +
             ', '.join(f'{n} x {kind}' for kind, n in counts.most_common())]
    lines += [f'  {p}' for p in problems[:max_listed]]
    if len(problems) > max_listed:
        lines.append(f'  ... and {len(problems) - max_listed} more (dataset.problems has all)')
    return '\n'.join(lines)


class _CheckedCOCO(COCO):
    """mmdet's COCO API over the annotations that ``check`` returns for the file."""

    def __init__(self, annotation_file: str, check: Callable[[dict], dict]):
        super().__init__(annotation_file=None)
        try:
            with open(annotation_file) as f:
                raw = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{annotation_file}: not valid JSON ({e})') from e
        self.dataset = check(raw)
        self.createIndex()
        # mmdet's aliases point at the index built above, not at the empty one.
        self.img_ann_map = self.imgToAnns
        self.cat_img_map = self.catToImgs


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's :class:`~mmdet.datasets.CocoDataset` that checks every image and
    annotation when it loads ``ann_file`` and reports each fault with its image
    id and annotation id. Registered as ``attnplug.CheckedCocoDataset``.

    What is checked, and what the stock class does instead, is in this
    module's docstring. Cleaned annotations then go through mmdet's own
    parsing, so the output is what ``CocoDataset`` gives for a clean file.

    Example (a config delta)::

        train_dataloader = dict(dataset=dict(type='attnplug.CheckedCocoDataset'))

    Args:
        on_invalid (str): ``'drop'``: drop (or clip) what is broken, warn with
            the list and train on the rest. ``'error'``: raise
            :class:`CocoAnnotationError` listing every problem. Either way
            this happens when the dataset is built, before any iteration.
            Default: 'drop'.
        border_tolerance (float): Pixels a box may overshoot the image
            unreported. Default: 1.0.
        min_box_size (float): Smallest box side kept, in pixels (mmdet's
            threshold). Default: 1.0.
        check_image_files (bool): Drop images whose file does not exist (one
            ``exists`` call per image through ``backend_args``). Default: True.
        check_image_size (bool): Compare each image's ``width``/``height`` with its
            file's (local files: the header only, EXIF rotation applied as mmcv
            decodes); a mismatch is reported and the file's size is used. Default: True.
        require_masks (bool, optional): Check ``segmentation``. None: when the
            pipeline loads masks (``LoadAnnotations(with_mask=True)``).
            Default: None.
        max_listed (int): Problems written out in the warning or error; all
            of them are in ``self.problems``. Default: 20.
        **kwargs: Every argument of mmdet's ``CocoDataset``.
    """

    def __init__(self,
                 *args,
                 on_invalid: str = 'drop',
                 border_tolerance: float = 1.0,
                 min_box_size: float = 1.0,
                 check_image_files: bool = True,
                 check_image_size: bool = True,
                 require_masks: Optional[bool] = None,
                 max_listed: int = 20,
                 **kwargs):
        if on_invalid not in ('drop', 'error'):
            raise ValueError(f"CheckedCocoDataset: on_invalid must be 'drop' or 'error', "
                             f'got {on_invalid!r}')
        self.on_invalid = on_invalid
        self.border_tolerance = border_tolerance
        self.min_box_size = min_box_size
        self.check_image_files = check_image_files
        self.check_image_size = check_image_size
        self.require_masks = require_masks
        self.max_listed = max_listed
        self.problems: List[CocoProblem] = []
        super().__init__(*args, **kwargs)

    def _pipeline_loads_masks(self) -> bool:
        transforms = getattr(self.pipeline, 'transforms', [])
        return any(getattr(t, 'with_mask', False) for t in transforms)

    def _image_exists(self, file_name: str) -> bool:
        return exists(osp.join(self.data_prefix.get('img', ''), file_name),
                      backend_args=self.backend_args)

    def _image_size(self, file_name: str) -> Optional[Tuple[int, int]]:
        """(width, height) of a local image as mmcv will decode it (EXIF rotation applied),
        from its header only; None for other storage backends or unreadable files."""
        path = osp.join(self.data_prefix.get('img', ''), file_name)
        if not isinstance(get_file_backend(path, backend_args=self.backend_args), LocalBackend):
            return None
        try:
            with Image.open(path) as img:
                width, height = img.size
                orientation = img.getexif().get(0x0112, 1)  # EXIF Orientation
        except (OSError, ValueError):
            return None  # a missing file is reported by the existence check
        return (height, width) if orientation in (5, 6, 7, 8) else (width, height)

    def _check(self, raw: dict) -> dict:
        masks = self._pipeline_loads_masks() if self.require_masks is None else self.require_masks
        try:
            cleaned, self.problems = check_coco_annotations(
                raw,
                border_tolerance=self.border_tolerance,
                min_box_size=self.min_box_size,
                require_masks=masks,
                image_exists=self._image_exists if self.check_image_files else None,
                image_size=self._image_size if self.check_image_size else None)
        except ValueError as e:
            raise ValueError(f'{self.ann_file}: {e}') from e
        if self.problems:
            report = format_problems(self.ann_file, self.problems, self.max_listed)
            if self.on_invalid == 'error':
                raise CocoAnnotationError(
                    report + "\n(on_invalid='error'; fix the file, or set on_invalid='drop' "
                    'to train without these annotations)', self.problems)
            print_log(report, logger='current', level=logging.WARNING)
            warnings.warn(report, CocoAnnotationWarning, stacklevel=2)
        return cleaned

    @property
    def COCOAPI(self) -> Callable[[str], COCO]:  # noqa: N802  (mmdet's attribute name)
        """The COCO API class mmdet's ``load_data_list`` indexes ``ann_file`` with
        (``self.coco = self.COCOAPI(local_path)``, its extension point, which mmdet's LVIS
        datasets also override): mmdet's API over the annotations :meth:`_check` returns.
        mmdet's parsing is then unchanged."""
        return partial(_CheckedCOCO, check=self._check)
