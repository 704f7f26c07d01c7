"""Draw the attention and gate maps of a trained model on one image, one panel per map.

    python tools/visualize_attention.py CONFIG CHECKPOINT IMAGE [--out-dir DIR]
        [--query X Y ...] [--query-px X Y ...] [--query-class NAME ...]
        [--modules CBAM PositionAttention ...] [--device cpu] [--ncols 4] [--dpi 110]
        [--cfg-options k=v ...]

Writes ``DIR/<image>_attention.png`` (matplotlib, Agg) and ``DIR/<image>_attention.json`` (each
panel's title, kind, pixel box in the PNG, value range and query point): the image the model saw with the query
points, the prediction, then one panel per map of every matched module. A module is drawn when
it implements the attention-map protocol (``attention_maps``, see
``attnplug.layers.base.AttentionModule``), so every attnplug layer with a map -- gate maps
(CBAM's spatial gate, attention gates, scSE, BAM, coordinate attention, GC pooling weights,
SimAM, ...) and, for position-dependent attention (DANet's position attention, non-local,
multi-head self-attention, criss-cross), where each query point looks -- and any new one, with
no change here. Colour bars give the map's own values (min-max scaled per panel).

Query points: ``--query X Y`` as fractions of the image width and height (repeatable),
``--query-px X Y`` in pixels of IMAGE, ``--query-class NAME ...`` at the largest predicted
region (mmseg) or best box (mmdet) of those classes. Default: the image centre.

The checkpoint goes through mmengine's ``load_checkpoint`` with ``weights_only`` left on;
``import attnplug`` allowlists exactly what mmengine checkpoints contain.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import attnplug  # noqa: E402,F401  (safe checkpoint globals before torch.load)
from attnplug.visualization.attention_maps import ALL_MODULES  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Attention maps of a model on one image')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--out-dir', default='work_dirs/attention_maps')
    p.add_argument('--query', type=float, nargs=2, action='append', metavar=('X', 'Y'),
                   help='query point as fractions of the image width and height')
    p.add_argument('--query-px', type=float, nargs=2, action='append', metavar=('X', 'Y'),
                   help='query point in pixels of IMAGE')
    p.add_argument('--query-class', nargs='+', metavar='NAME',
                   help='query at the largest predicted region / best box of these classes')
    p.add_argument('--modules', nargs='+', default=list(ALL_MODULES),
                   help='class names or module-name patterns (default: every module with '
                   'attention_maps)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--alpha', type=float, default=0.55)
    p.add_argument('--cmap', default='jet')
    p.add_argument('--ncols', type=int, default=4)
    p.add_argument('--dpi', type=int, default=110)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def dataset_classes(model, cfg) -> Tuple[Sequence[str], Optional[Sequence]]:
    meta = getattr(model, 'dataset_meta', None) or {}
    if not meta.get('classes'):
        try:
            scope = cfg.get('default_scope')
            if scope == 'mmseg':
                from mmseg.registry import DATASETS
            else:
                from mmdet.registry import DATASETS
            meta = DATASETS.get(cfg.test_dataloader.dataset.type).METAINFO
        except Exception:  # noqa: BLE001  (a custom dataset without METAINFO)
            meta = {}
    return meta.get('classes', ()), meta.get('palette')


def class_query(result, scope: str, classes: Sequence[str], names: Sequence[str],
                ori_hw: Tuple[int, int]) -> Optional[Tuple[float, float]]:
    """(x, y) fractions of a query on the predicted classes ``names``: the pixel of the
    largest predicted region nearest to its centroid (mmseg), the best box's centre (mmdet)."""
    import cv2

    ids = [i for i, c in enumerate(classes) if c in names]
    if not ids:
        raise SystemExit(f'--query-class {list(names)}: none of them is a class of the '
                         f'model ({list(classes)})')
    h, w = ori_hw
    if scope == 'mmseg':
        pred = result.pred_sem_seg.data[0].cpu().numpy()
        mask = np.isin(pred, ids).astype(np.uint8)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return None
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        ys, xs = np.nonzero(labels == k)
        cx, cy = centroids[k]
        j = int(np.argmin((xs - cx)**2 + (ys - cy)**2))
        return float((xs[j] + 0.5) / pred.shape[1]), float((ys[j] + 0.5) / pred.shape[0])
    inst = result.pred_instances
    keep = np.isin(inst.labels.cpu().numpy(), ids)
    if not keep.any():
        return None
    best = int(np.argmax(np.where(keep, inst.scores.cpu().numpy(), -1)))
    x1, y1, x2, y2 = inst.bboxes[best].tolist()
    return min(1.0, float((x1 + x2) / 2 / w)), min(1.0, float((y1 + y2) / 2 / h))


def prediction_image(result, scope: str, image: np.ndarray, palette, alpha=0.5):
    """The prediction drawn on the (resized) image the model saw."""
    import cv2

    out = image.copy()
    if scope == 'mmseg':
        pred = result.pred_sem_seg.data[0].cpu().numpy().astype(np.int32)
        pred = cv2.resize(pred.astype(np.uint8), (image.shape[1], image.shape[0]),
                          interpolation=cv2.INTER_NEAREST).astype(np.int64)
        if palette is None:
            rng = np.random.default_rng(0)
            palette = rng.integers(0, 255, (max(int(pred.max()) + 1, 1), 3))
        colours = np.asarray(palette, np.float32)[np.clip(pred, 0, len(palette) - 1)]
        out = ((1 - alpha) * out + alpha * colours).clip(0, 255).astype(np.uint8)
    else:
        sy = image.shape[0] / result.ori_shape[0]
        sx = image.shape[1] / result.ori_shape[1]
        inst = result.pred_instances
        for box, score in zip(inst.bboxes.tolist(), inst.scores.tolist()):
            if score < 0.3:
                continue
            x1, y1, x2, y2 = box
            cv2.rectangle(out, (int(x1 * sx), int(y1 * sy)), (int(x2 * sx), int(y2 * sy)),
                          (255, 0, 0), 1)
    return out


def draw_figure(path: str, image: np.ndarray, pred: np.ndarray, maps, valid,
                query_points, alpha: float, cmap: str, ncols: int, dpi: int = 110) -> List[dict]:
    """Draw the figure to ``path``. Returns one dict per panel: ``kind`` ('input',
    'prediction' or 'map'), ``title``, ``box`` (y0, x0, y1, x1 in the PNG's pixels), the
    ``query`` points marked on it ((x, y) fractions of the panel) and, for maps, ``range``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from attnplug.visualization.overlay import map_to_image

    n = 2 + len(maps)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    ih, iw = image.shape[:2]
    pw = 4.0
    ph = pw * ih / iw + 0.75
    fig, axes = plt.subplots(nrows, ncols, figsize=(pw * ncols, ph * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')

    def mark(ax, pts):
        for x, y in pts:
            ax.plot(x * (iw - 1), y * (ih - 1), marker='+', color='white', markersize=14,
                    markeredgewidth=3.5)
            ax.plot(x * (iw - 1), y * (ih - 1), marker='+', color='black', markersize=12,
                    markeredgewidth=1.5)

    axes.flat[0].imshow(image)
    mark(axes.flat[0], query_points)
    axes.flat[0].set_title(f'input {iw}x{ih}, query (+)', fontsize=9)
    axes.flat[1].imshow(pred)
    axes.flat[1].set_title('prediction', fontsize=9)
    panels = [dict(kind='input', title='input', query=[list(p) for p in query_points]),
              dict(kind='prediction', title='prediction', query=[])]
    for ax, amap in zip(axes.flat[2:], maps):
        resized = map_to_image(amap.maps[0], (ih, iw), valid)
        ax.imshow(image)
        im = ax.imshow(resized, cmap=cmap, alpha=alpha, vmin=float(resized.min()),
                       vmax=float(resized.max()))
        marked = []
        if amap.query is not None:
            marked = [(amap.query[0] / valid[1], amap.query[1] / valid[0])]
            mark(ax, marked)
        panels.append(dict(kind='map', title=f'{amap.module} ({amap.type}): {amap.label}',
                           query=[list(p) for p in marked],
                           range=[float(resized.min()), float(resized.max())]))
        h, w = amap.maps.shape[-2:]
        name = amap.module if len(amap.module) <= 42 else '..' + amap.module[-40:]
        ax.set_title(f'{name} ({amap.type})\n{amap.label}, {h}x{w}', fontsize=8)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        cb.ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.canvas.draw()  # applies the image aspect, so the axes boxes are final
    scale = dpi / fig.dpi
    height = int(round(fig.get_figheight() * dpi))
    for panel, ax in zip(panels, axes.flat):
        box = ax.get_window_extent()
        panel['box'] = [int(round(height - box.y1 * scale)), int(round(box.x0 * scale)),
                        int(round(height - box.y0 * scale)), int(round(box.x1 * scale))]
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return panels


def main(argv=None):
    import cv2
    import torch

    from attnplug.visualization.attention_maps import AttentionRecorder
    from attnplug.analysis.build import build_model, config_scope, load_config

    args = parse_args(argv)
    if not osp.isfile(args.image):
        raise SystemExit(f'image not found: {args.image}')
    cfg = load_config(args.config, args.cfg_options)
    scope = config_scope(cfg)
    model = build_model(cfg, args.checkpoint, args.device)
    ori = cv2.imread(args.image)
    ori_hw = ori.shape[:2]

    with AttentionRecorder(model, args.modules) as rec:
        with torch.no_grad():
            if scope == 'mmseg':
                from mmseg.apis import inference_model
                result = inference_model(model, args.image)
            else:
                from mmdet.apis import inference_detector
                result = inference_detector(model, args.image)
    if not rec.modules:
        from attnplug.visualization.attention_maps import supported_types
        raise SystemExit(f'no module of the model matches {args.modules} and implements '
                         f'attention_maps(); attnplug layers that do: '
                         f'{", ".join(supported_types())}')
    classes, palette = dataset_classes(model, cfg)

    points: List[Tuple[float, float]] = [tuple(p) for p in args.query or []]
    points += [(min(1.0, x / ori_hw[1]), min(1.0, y / ori_hw[0])) for x, y in args.query_px or []]
    if args.query_class:
        p = class_query(result, scope, classes, args.query_class, ori_hw)
        if p is None:
            print(f'--query-class {args.query_class}: not predicted in this image; '
                  'using the image centre')
        else:
            points.append(p)
    if not points:
        points = [(0.5, 0.5)]

    image = rec.images()[0]
    input_hw = rec.input_shape or image.shape[:2]
    valid = (min(1.0, image.shape[0] / input_hw[0]), min(1.0, image.shape[1] / input_hw[1]))
    maps = rec.maps([(x * valid[1], y * valid[0]) for x, y in points], index=0)
    pred = prediction_image(result, scope, image, palette)

    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.image))[0]
    path = osp.join(args.out_dir, f'{stem}_attention.png')
    panels = draw_figure(path, image, pred, maps, valid, points, args.alpha, args.cmap,
                         args.ncols, args.dpi)
    with open(osp.splitext(path)[0] + '.json', 'w') as f:
        json.dump(dict(image=args.image, alpha=args.alpha, cmap=args.cmap, panels=panels), f,
                  indent=1)
    print(f'{len(maps)} maps of {len(rec.inputs)} modules, query points '
          f'{[(round(x, 3), round(y, 3)) for x, y in points]} -> {path}')
    return path


if __name__ == '__main__':
    main()
