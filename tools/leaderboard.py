"""Collect the results of trained work dirs into a leaderboard and an OpenMMLab model index.

    python tools/leaderboard.py WORK_DIR [WORK_DIR ...] [--out-dir docs/leaderboard]
        [--published configs/published.yml] [--shape H W] [--no-measure] [--metric mIoU]

For each work dir (as written by ``tools/train.py --work-dir D`` and ``tools/test.py ...
--work-dir D/test``):

* the config mmengine dumped into ``D`` and the checkpoint named by ``D/last_checkpoint``;
* the test metrics: the newest ``<timestamp>.json`` under ``D/test/`` or ``D/`` that holds a
  metric (``mIoU``, ``coco/bbox_mAP``, ``pascal_voc/mAP``, ...); without one, the last
  validation in ``D/<timestamp>/vis_data/scalars.json``, marked ``val (last)``;
* training time per iteration and, on CUDA, training memory from the same scalars;
* measured here (unless ``--no-measure``): parameters and FLOPs (:mod:`attnplug.analysis.flops`,
  attention counted; one multiply-add = one FLOP), inference fps (batch 1,
  ``model.test_step`` on a random image of ``--shape``, median after warm-up) and the peak
  inference memory of one call (:mod:`attnplug.analysis.profiling`), with the device named.

Published numbers (e.g. OpenMMLab's model zoo) enter only from ``--published FILE.yml``, and
only entries that say ``published: true`` and give a ``source``; they are shown as such and
never mixed with measured ones::

    - name: danet_r50-d8_4xb2-40k_cityscapes-512x1024
      published: true
      source: https://github.com/open-mmlab/mmsegmentation/tree/main/configs/danet
      dataset: Cityscapes
      metrics: {mIoU: 78.74}
      memory_gb: 7.4        # training memory
      fps: 2.66
      hardware: V100

Writes ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.png`` (metric against FLOPs,
marker area ∝ parameters, published entries hollow) and, in OpenMMLab's model-index format,
``metafile.yml`` and ``model-index.yml`` (which imports it).
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

METRIC_KEYS = ('mIoU', 'coco/bbox_mAP', 'coco/segm_mAP', 'pascal_voc/mAP', 'bbox_mAP', 'mAP',
               'aAcc')
TASKS = {'mmseg': 'Semantic Segmentation', 'mmdet': 'Object Detection'}


def _newest(paths: List[str]) -> Optional[str]:
    return max(paths, key=osp.getmtime) if paths else None


def find_config(work_dir: str) -> Optional[str]:
    return _newest(glob.glob(osp.join(work_dir, '*.py')))


def find_checkpoint(work_dir: str) -> Optional[str]:
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
        local = osp.join(work_dir, osp.basename(path))
        if osp.isfile(local):
            return local
    return _newest(glob.glob(osp.join(work_dir, '*.pth')))


def project_config(name: str) -> Optional[str]:
    """The repository's ``configs/**/<name>.py``, which the dumped config was made from."""
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    hits = glob.glob(osp.join(root, 'configs', '**', f'{name}.py'), recursive=True)
    return osp.relpath(hits[0], root) if len(hits) == 1 else None


def _metrics_in(d: Dict[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in d.items()
            if isinstance(v, (int, float)) and any(k == m or k.endswith('/' + m.split('/')[-1])
                                                   for m in METRIC_KEYS)}


def test_metrics(work_dir: str):
    """(metrics, origin) of the newest test json, else of the last validation."""
    candidates = (glob.glob(osp.join(work_dir, 'test', '2*', '2*.json'))
                  + glob.glob(osp.join(work_dir, '2*', '2*.json')))
    for path in sorted(candidates, key=osp.getmtime, reverse=True):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and _metrics_in(data):
            return _metrics_in(data), f'test ({osp.relpath(path, work_dir)})'
    last = None
    for path in sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json')),
                       key=osp.getmtime):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if _metrics_in(row):
                    last = (_metrics_in(row), f'val (last, iter {row.get("step", "?")})')
    if last:
        return last
    for path in glob.glob(osp.join(work_dir, 'test', '2*', '2*.log')):
        with open(path, errors='replace') as f:
            if any('testing results of the whole dataset is empty' in line for line in f):
                # mmdet's CocoMetric logs this and returns no metric at all
                return {}, f'test: no detections ({osp.relpath(path, work_dir)})'
    return {}, 'none'


def train_stats(work_dir: str) -> Dict[str, float]:
    times, mems = [], []
    for path in glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if 'loss' in row and 'time' in row:
                    times.append(float(row['time']))
                    if 'memory' in row:
                        mems.append(float(row['memory']))
    out = {}
    if times:
        out['train_s_per_iter'] = sorted(times)[len(times) // 2]
    if mems:
        out['train_memory_gb'] = max(mems) / 1024  # mmengine logs MB
    return out


def _get_flops_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        'attnplug_tool_get_flops', osp.join(osp.dirname(osp.abspath(__file__)), 'get_flops.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure(config: str, checkpoint: Optional[str], shape, device: str) -> Dict[str, Any]:
    import torch

    from attnplug.analysis.build import build_model, config_scope, dummy_batch, load_config
    from attnplug.analysis.profiling import measure_latency, measure_peak_memory
    flops = _get_flops_tool().complexity(config, shape)
    cfg = load_config(config)
    scope = config_scope(cfg)
    model = build_model(cfg, checkpoint, device)
    data = dummy_batch(scope, flops['input_shape'])

    def call():
        with torch.no_grad():
            model.test_step(data)

    lat = measure_latency(call, device, warmup=2, repeat=5, max_first_s=60)
    peak = measure_peak_memory(call, device)
    dev = torch.cuda.get_device_name(0) if device.startswith('cuda') else \
        f'CPU, {torch.get_num_threads()} threads'
    return {
        'params_m': flops['params'] / 1e6,
        'gflops': flops['flops'] / 1e9,
        'gflops_stock_mmengine': flops['flops_stock_mmengine'] / 1e9,
        'input_shape': 'x'.join(map(str, flops['input_shape'])),
        'fps': 1e3 / lat['median_ms'],
        'infer_memory_mib': peak,
        'measured_on': f'{dev}, torch {torch.__version__}',
    }


def collect(work_dirs: List[str], shape=None, device='cpu', do_measure=True) -> List[Dict]:
    rows = []
    for wd in work_dirs:
        config = find_config(wd)
        if config is None:
            print(f'skip {wd}: no dumped config (*.py)')
            continue
        from mmengine.config import Config
        cfg = Config.fromfile(config)
        scope = cfg.get('default_scope', 'mmseg')
        try:
            ds = cfg.test_dataloader.dataset
            dataset = f'{ds.type} ({ds.get("data_root", "")})'
        except AttributeError:
            dataset = None
        metrics, origin = test_metrics(wd)
        name = osp.splitext(osp.basename(config))[0]
        row = {'name': name, 'work_dir': wd, 'config': project_config(name) or config,
               'scope': scope, 'published': False, 'source': origin, 'dataset': dataset,
               'checkpoint': find_checkpoint(wd), 'metrics': metrics}
        row.update(train_stats(wd))
        if do_measure:
            row.update(measure(config, row['checkpoint'], shape, device))
        rows.append(row)
    return rows


def load_published(path: str) -> List[Dict]:
    import yaml

    with open(path) as f:
        entries = yaml.safe_load(f) or []
    rows = []
    for e in entries:
        if e.get('published') is not True or not e.get('source'):
            raise SystemExit(f'{path}: entry {e.get("name")!r} must say published: true and give '
                             'a source to be listed (no unsourced numbers)')
        rows.append({'name': e['name'], 'published': True, 'source': e['source'],
                     'scope': e.get('scope', 'mmseg'), 'metrics': e.get('metrics', {}),
                     'train_memory_gb': e.get('memory_gb'), 'fps': e.get('fps'),
                     'measured_on': e.get('hardware', ''), 'dataset': e.get('dataset'),
                     'params_m': e.get('params_m'), 'gflops': e.get('gflops'),
                     'config': e.get('config')})
    return rows


def _metric_key(rows: List[Dict], wanted: Optional[str]) -> Optional[str]:
    if wanted:
        return wanted
    for key in METRIC_KEYS:
        if any(key in r['metrics'] for r in rows):
            return key
    return None


def _num(v, fmt='{:.2f}'):
    return '—' if v is None else fmt.format(v)


def write(rows: List[Dict], out_dir: str, metric: Optional[str], command: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    metric = _metric_key(rows, metric)
    cols = ['name', 'published', 'source', metric, 'params_m', 'gflops',
            'gflops_stock_mmengine', 'input_shape', 'fps', 'infer_memory_mib',
            'train_memory_gb', 'train_s_per_iter', 'measured_on', 'config']
    with open(osp.join(out_dir, 'leaderboard.csv'), 'w', newline='') as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        for r in rows:
            wr.writerow([r['metrics'].get(metric) if c == metric else r.get(c) for c in cols])

    lines = ['# Leaderboard', '', f'Command: `{command}`', '',
             'Measured rows come from the work dirs and this machine; published rows only from '
             'the `--published` file, each with its source. FLOPs count one multiply-add as one '
             'FLOP, attention included (the stock mmengine count, which misses fused attention, '
             'is in the CSV).', '',
             f'| model | kind | {metric} | params (M) | GFLOPs | input | fps | infer. mem (MiB) '
             '| train mem (GB) | measured on / source |',
             '|---|---|---:|---:|---:|---|---:|---:|---:|---|']
    key = (lambda r: -(r['metrics'].get(metric) or -1e9))
    for r in sorted(rows, key=key):
        kind = 'published' if r['published'] else r['source']
        where = r['source'] if r['published'] else r.get('measured_on', '')
        lines.append(f'| {r["name"]} | {kind} | {_num(r["metrics"].get(metric))} '
                     f'| {_num(r.get("params_m"))} | {_num(r.get("gflops"))} '
                     f'| {r.get("input_shape", "—")} | {_num(r.get("fps"))} '
                     f'| {_num(r.get("infer_memory_mib"), "{:.0f}")} '
                     f'| {_num(r.get("train_memory_gb"), "{:.1f}")} | {where} |')
    with open(osp.join(out_dir, 'leaderboard.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    _scatter(rows, metric, osp.join(out_dir, 'leaderboard.png'))
    _model_index(rows, metric, out_dir)


def short_labels(names: List[str]) -> List[str]:
    """The names without the prefix and suffix they all share (e.g. ``faster-rcnn_r18`` and
    ``_fpn_300iter_coco-bundled``); a name that is nothing but those stays whole."""
    if len(names) < 2:
        return list(names)
    prefix = osp.commonprefix(names)
    suffix = osp.commonprefix([n[::-1] for n in names])[::-1]
    out = []
    for n in names:
        core = n[len(prefix):len(n) - len(suffix)] if len(prefix) + len(suffix) < len(n) else ''
        out.append(core.strip('-_') or n)
    return out


def _scatter(rows, metric, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get('gflops') and r['metrics'].get(metric) is not None]
    labels = short_labels([r['name'] for r in pts])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    order = sorted(range(len(pts)), key=lambda i: pts[i]['metrics'][metric])
    for rank, i in enumerate(order):
        r = pts[i]
        size = 30 + 8 * (r.get('params_m') or 1)
        ax.scatter(r['gflops'], r['metrics'][metric], s=size,
                   facecolors='none' if r['published'] else '#1f77b4', edgecolors='#1f77b4')
        # neighbours in the metric alternate above and below their marker
        ax.annotate(labels[i], (r['gflops'], r['metrics'][metric]), fontsize=7,
                    xytext=(6, 5 if rank % 2 else -9), textcoords='offset points')
    left_out = [label for r, label in zip(rows, short_labels([r['name'] for r in rows]))
                if r not in pts]
    if left_out:
        fig.text(0.01, 0.01, f'not plotted (no {metric} or no FLOPs): ' + ', '.join(left_out),
                 fontsize=6)
    ax.set_xlabel('GFLOPs (attention counted, 1 MAC = 1 FLOP)')
    ax.set_ylabel(metric or 'metric')
    ax.set_title('leaderboard (filled: measured here, hollow: published)', fontsize=9)
    if not pts:
        ax.text(0.5, 0.5, 'no rows with FLOPs and a metric', ha='center',
                transform=ax.transAxes)
    fig.tight_layout(rect=(0, 0.03 if left_out else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _repo_relative(path: Optional[str]) -> Optional[str]:
    """A checkpoint inside this repository as a path from its root (metafiles are read from
    there); anything else unchanged."""
    if not path:
        return path
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    rel = osp.relpath(osp.abspath(path), root)
    return path if rel.startswith('..') else rel


def _model_index(rows, metric, out_dir):
    """OpenMMLab's model-index format (``Collections`` / ``Models`` in a metafile)."""
    import yaml

    models = []
    for r in rows:
        if r['published']:
            continue
        meta = {}
        if r.get('params_m') is not None:
            meta['Parameters'] = int(round(r['params_m'] * 1e6))
            meta['FLOPs'] = int(round(r['gflops'] * 1e9))
        if r.get('fps'):
            meta['inference time (ms/im)'] = [{
                'value': round(1e3 / r['fps'], 2), 'hardware': r.get('measured_on', ''),
                'backend': 'PyTorch', 'batch size': 1, 'mode': 'FP32',
                'resolution': f'({r.get("input_shape", "").replace("x", ",")})'}]
        if r.get('train_memory_gb'):
            meta['Training Memory (GB)'] = round(r['train_memory_gb'], 2)
        models.append({
            'Name': r['name'],
            'In Collection': 'attnplug',
            'Config': r.get('config'),
            'Metadata': meta,
            'Results': [{'Task': TASKS.get(r['scope'], r['scope']),
                         'Dataset': r.get('dataset') or 'bundled',
                         'Metrics': {k: round(v, 2) for k, v in r['metrics'].items()}}],
            'Weights': _repo_relative(r.get('checkpoint')),
        })
    metafile = {'Collections': [{'Name': 'attnplug',
                                 'Metadata': {'Training Data': 'see each model'},
                                 'README': 'docs/benchmarks/README.md'}],
                'Models': models}
    with open(osp.join(out_dir, 'metafile.yml'), 'w') as f:
        yaml.safe_dump(metafile, f, sort_keys=False, allow_unicode=True)
    with open(osp.join(out_dir, 'model-index.yml'), 'w') as f:
        yaml.safe_dump({'Import': ['metafile.yml']}, f, sort_keys=False)


def main(argv=None):
    import shlex

    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dirs', nargs='*')
    p.add_argument('--published', help='YAML of published numbers (each with a source)')
    p.add_argument('--out-dir', default='docs/leaderboard')
    p.add_argument('--shape', type=int, nargs=2, help='H W of the measured input')
    p.add_argument('--device', default='cpu')
    p.add_argument('--metric', help='the ranking metric (default: the first found of '
                   f'{", ".join(METRIC_KEYS)})')
    p.add_argument('--no-measure', action='store_true', help='skip params/FLOPs/fps/memory')
    args = p.parse_args(argv)
    raw = sys.argv[1:] if argv is None else argv
    if argv is None and not args.no_measure:
        from attnplug.analysis.profiling import reexec_with_mmap_threshold
        reexec_with_mmap_threshold(__file__, raw)  # CPU peak memory (see profiling.py)
    rows = collect(args.work_dirs, args.shape, args.device, not args.no_measure)
    if args.published:
        rows += load_published(args.published)
    if not rows:
        raise SystemExit('nothing to list: give work dirs and/or --published')
    write(rows, args.out_dir, args.metric,
          'python tools/leaderboard.py ' + ' '.join(shlex.quote(a) for a in raw))
    print(f'{len(rows)} rows -> {args.out_dir}/leaderboard.md, .csv, .png, metafile.yml, '
          'model-index.yml')
    return rows


if __name__ == '__main__':
    main()
