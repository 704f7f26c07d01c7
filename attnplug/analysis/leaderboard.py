"""Leaderboards from trained work dirs: runs grouped by config, seeds summarised, differences to
the baseline with 95% confidence intervals, and OpenMMLab's model index.

The library behind ``tools/leaderboard.py``. A work dir is what ``tools/train.py --work-dir D``
and ``tools/test.py ... --work-dir D/test`` leave, optionally with the ``run.json`` that
``tools/benchmark_learning.py`` writes (config, seed, baseline, extra metrics such as the
per-class IoU of the cue classes). Work dirs of one config (one per seed) form a *group*.

Per group and metric: the mean, the sample standard deviation (``ddof=1``) and ``n``. Against
the group's baseline: the difference of the means with a Welch t interval (unequal variances,
Welch–Satterthwaite degrees of freedom, :func:`welch_interval`). An interval that contains 0 is
*not significant*; so is any comparison with ``n < 2`` on either side (no interval).

A baseline has to have learned on every seed before anything is ranked against it
(:func:`learned`): a baseline that did not learn makes every difference to it meaningless, so
the table says so and shows no difference, interval or ranking for its group.

Costs are measured once per group (they do not depend on the seed): parameters and FLOPs of the
inference model (mmseg's auxiliary head left out, attention counted,
:func:`attnplug.analysis.flops.config_complexity`), the CPU time of one ``model.test_step`` at
batch 1 and its ratio to the baseline's, and the peak inference memory
(:mod:`attnplug.analysis.profiling`). Wall-clock speed is not reported: on a shared machine it
measures the other jobs.

Everything in ``leaderboard.md`` and ``leaderboard.png`` is rendered from ``leaderboard.csv``
(:func:`render_markdown`, :func:`render_plot`), so a doc can be re-rendered and checked against
the CSV (``tests/test_docs_consistency.py``). Published numbers (papers, model zoos) come only
from a YAML whose entries say ``published: true`` and give a ``source``; they are listed in
their own table and never ranked with the measured rows.
"""
import glob
import json
import math
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import reporting
from .learning import load_record, write_scheduled_config

__all__ = ['METRIC_KEYS', 'LEARNED_THRESHOLDS', 'collect_runs', 'group_runs', 'recompute',
           'csv_rows', 'summary', 'welch_interval', 'learned', 'compare', 'load_published',
           'write', 'metric_format', 'delta_text', 'leaderboard_table', 'render_markdown',
           'render_plot', 'write_model_index', 'short_labels', 'seeds_above', 'above_text',
           'parse_above']

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METRIC_KEYS = ('mIoU', 'coco/bbox_mAP', 'coco/segm_mAP', 'pascal_voc/mAP', 'bbox_mAP', 'mAP',
               'aAcc')
TASKS = {'mmseg': 'Semantic Segmentation', 'mmdet': 'Object Detection'}

#: What "learned" means for a baseline, per metric: the value every seed must exceed.
#: mIoU: 15, about twice the 7.64 mIoU of the best constant prediction on the bundled Cityscapes
#: val set (every pixel *road*, 45.8% of the labelled pixels, with 6 classes present: computed
#: from the labels that data/generate.py writes); box mAP: above 0, i.e. some detection matches
#: (mmdet reports no metric at all when nothing is detected, counted as 0).
LEARNED_THRESHOLDS = {'mIoU': 15.0, 'coco/bbox_mAP': 0.0, 'pascal_voc/mAP': 0.0,
                      'coco/segm_mAP': 0.0}


# ----------------------------------------------------------------------------- work dirs
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
    hits = glob.glob(osp.join(ROOT, 'configs', '**', f'{name}.py'), recursive=True)
    return osp.relpath(hits[0], ROOT) if len(hits) == 1 else None


def _metrics_in(d: Dict[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in d.items()
            if isinstance(v, (int, float)) and any(k == m or k.endswith('/' + m.split('/')[-1])
                                                   for m in METRIC_KEYS)}


def test_metrics(work_dir: str) -> Tuple[Dict[str, float], str]:
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


def collect_runs(work_dirs: Sequence[str]) -> List[Dict[str, Any]]:
    """One dict per work dir or run record: ``name`` (the config's, without any seed),
    ``seed``, ``config``, ``baseline`` (a name, or None), ``scope``, ``dataset``, ``metrics``,
    ``source`` (where the metrics came from), ``checkpoint`` and ``dumped_config``.

    A *run record* is the ``<name>/seed<k>.json`` row that ``tools/benchmark_learning.py``
    keeps (and the repository commits): its metrics are the test metrics of that run. Its
    config is the dumped one when the run's work dir is still there, else regenerated from the
    record's config and schedule; its checkpoint only when the work dir is there."""
    from mmengine.config import Config
    runs = []
    for wd in work_dirs:
        wd = osp.normpath(wd)
        if wd.endswith('.json') and osp.isfile(wd):
            info, record = load_record(wd), wd
            work = osp.join(ROOT, info['work_dir']) if info.get('work_dir') else None
            wd = work if work and osp.isdir(work) else None
        else:
            info, record = load_record(osp.join(wd, 'run.json')), None
        dumped = find_config(wd) if wd else None
        if record and dumped is None:
            dumped = _regenerated_config(info)
        if dumped is None and not info:
            print(f'skip {wd}: no dumped config (*.py) and no run.json')
            continue
        cfg = Config.fromfile(dumped) if dumped else None
        name = info.get('name') or osp.splitext(osp.basename(dumped))[0]
        seed = info.get('seed')
        if seed is None and cfg is not None:
            seed = (cfg.get('randomness') or {}).get('seed')
        if record:
            metrics, origin = _metrics_in(info.get('metrics') or {}), \
                f'record ({osp.relpath(record, ROOT)})'
        else:
            metrics, origin = test_metrics(wd)
        if origin.startswith('test: no detections'):
            metrics = {'coco/bbox_mAP': 0.0}  # nothing detected: AP 0, said in `source`
        metrics.update(info.get('extra_metrics') or {})
        dataset = None
        if cfg is not None:
            try:
                ds = cfg.test_dataloader.dataset
                dataset = f'{ds.type} ({ds.get("data_root", "")})'
            except AttributeError:
                pass
        runs.append({
            'name': name, 'seed': seed, 'work_dir': wd or record,
            'config': info.get('config') or project_config(name) or dumped,
            'baseline': info.get('baseline_name'),
            'scope': (cfg.get('default_scope') if cfg is not None else None) or
                     info.get('scope', 'mmseg'),
            'dataset': dataset, 'metrics': metrics, 'source': origin,
            'checkpoint': find_checkpoint(wd) if wd else None, 'dumped_config': dumped,
        })
    return runs


_REGENERATED: Dict[Tuple[str, str], str] = {}


def _regenerated_config(info: Dict[str, Any]) -> Optional[str]:
    """The config a record's run trained: its config, with its schedule laid over it. One file
    per (config, schedule), in a temporary folder removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    config = info.get('config')
    if not config or not osp.isfile(osp.join(ROOT, config)):
        return None
    if not info.get('schedule'):
        return osp.join(ROOT, config)
    key = (config, info['schedule'])
    if key not in _REGENERATED:
        folder = tempfile.mkdtemp(prefix='attnplug-config-')
        atexit.register(shutil.rmtree, folder, True)
        _REGENERATED[key] = write_scheduled_config(config, info['schedule'], folder)
    return _REGENERATED[key]


# ----------------------------------------------------------------------------- statistics
def summary(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """``mean``, ``std`` (sample, ddof=1; None for one value) and ``n``."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if not n:
        return {'mean': None, 'std': None, 'n': 0}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean)**2 for v in vals) / (n - 1)) if n > 1 else None
    return {'mean': mean, 'std': std, 'n': n}


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95
                   ) -> Dict[str, Optional[float]]:
    """Difference of means ``mean(a) - mean(b)`` with Welch's t interval.

    Returns:
        dict: ``diff``, ``lo``, ``hi``, ``dof`` and ``significant`` (the interval excludes
        0). With fewer than 2 values on a side there is no interval: ``lo``/``hi`` are None
        and ``significant`` is False. Two samples without spread give a zero-width interval.
    """
    from scipy import stats
    sa, sb = summary(a), summary(b)
    if not sa['n'] or not sb['n']:
        return {'diff': None, 'lo': None, 'hi': None, 'dof': None, 'significant': False}
    diff = sa['mean'] - sb['mean']
    if sa['n'] < 2 or sb['n'] < 2:
        return {'diff': diff, 'lo': None, 'hi': None, 'dof': None, 'significant': False}
    va, vb = sa['std']**2 / sa['n'], sb['std']**2 / sb['n']
    se = math.sqrt(va + vb)
    if se == 0:
        return {'diff': diff, 'lo': diff, 'hi': diff, 'dof': None, 'significant': diff != 0}
    dof = (va + vb)**2 / (va**2 / (sa['n'] - 1) + vb**2 / (sb['n'] - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    lo, hi = diff - half, diff + half
    return {'diff': diff, 'lo': lo, 'hi': hi, 'dof': dof, 'significant': lo > 0 or hi < 0}


def learned(values: Sequence[float], metric: str,
            thresholds: Optional[Dict[str, float]] = None) -> Tuple[bool, str]:
    """Whether a baseline learned on every seed: each value above the metric's threshold
    (:data:`LEARNED_THRESHOLDS`; a metric without one counts as learned). Returns
    ``(ok, reason)``."""
    thresholds = LEARNED_THRESHOLDS if thresholds is None else thresholds
    limit = thresholds.get(metric)
    if limit is None:
        return True, f'no learning threshold for {metric}'
    if not values:
        return False, f'no {metric} at all'
    failed = [v for v in values if v is None or not v > limit]
    if failed:
        return False, (f'{len(failed)} of {len(values)} seed(s) at or below the learning '
                       f'threshold {metric} > {limit:g} '
                       f'({", ".join("missing" if v is None else f"{v:g}" for v in failed)})')
    return True, f'every seed above {metric} > {limit:g}'


def seeds_above(values: Sequence[Optional[float]], limit: float) -> str:
    """``'k/n'``: how many of the ``n`` seeds' values are above ``limit`` (a missing value
    counts as not above)."""
    return f'{sum(1 for v in values if v is not None and v > limit)}/{len(values)}'


def above_text(above: Dict[str, float]) -> str:
    """The header line of ``--seeds-above``: ``'cue_classes_mIoU > 37.09'`` (``; ``-joined)."""
    return '; '.join(f'{m} > {v:g}' for m, v in above.items())


def parse_above(text: str) -> Dict[str, float]:
    """The inverse of :func:`above_text` (``{}`` for an empty line)."""
    out = {}
    for part in filter(None, (p.strip() for p in (text or '').split(';'))):
        metric, sep, value = part.rpartition(' > ')
        if not sep:
            raise ValueError(f'seeds_above: {part!r}: expected "METRIC > VALUE"')
        out[metric] = float(value)
    return out


# ----------------------------------------------------------------------------- grouping
def group_runs(runs: List[Dict[str, Any]], baseline: Optional[str] = None
               ) -> List[Dict[str, Any]]:
    """Groups of runs of one config (by ``name``), in first-seen order. A group's baseline is
    ``baseline`` (a name) when given, else what its runs' ``run.json`` named, else none."""
    groups: Dict[str, Dict[str, Any]] = {}
    for run in runs:
        g = groups.setdefault(run['name'], {
            'name': run['name'], 'config': run['config'], 'scope': run['scope'],
            'dataset': run['dataset'], 'baseline': baseline or run['baseline'], 'runs': []})
        g['runs'].append(run)
    for g in groups.values():
        g['runs'].sort(key=lambda r: (r['seed'] is None, r['seed']))
        g['seeds'] = [r['seed'] for r in g['runs']]
        keys = sorted({k for r in g['runs'] for k in r['metrics']})
        g['values'] = {k: [r['metrics'].get(k) for r in g['runs']] for k in keys}
    return list(groups.values())


def compare(groups: List[Dict[str, Any]], metrics: Sequence[str],
            thresholds: Optional[Dict[str, float]] = None) -> None:
    """Fill each group's ``stats`` (per metric: summary, and against its baseline the Welch
    difference) and ``baseline_status`` (``'is baseline'``, ``'learned'``, ``'not learned:
    ...'``, ``'missing'`` or ``'none'``), in place. The learning check is made on the first of
    ``metrics`` (the ranking metric)."""
    by_name = {g['name']: g for g in groups}
    for g in groups:
        g['stats'] = {m: summary(g['values'].get(m, [])) for m in g['values']}
        if not metrics:
            g['baseline_status'] = 'none'
            continue
        base = by_name.get(g['baseline']) if g['baseline'] else None
        if g['baseline'] == g['name']:
            ok, why = learned(g['values'].get(metrics[0], []), metrics[0], thresholds)
            g['baseline_status'] = 'is baseline' + ('' if ok else f' (not learned: {why})')
            continue
        if base is None:
            g['baseline_status'] = 'missing' if g['baseline'] else 'none'
            continue
        ok, why = learned(base['values'].get(metrics[0], []), metrics[0], thresholds)
        g['baseline_status'] = 'learned' if ok else f'not learned: {why}'
        if not ok:
            continue
        for m in g['stats']:
            if m in base['values']:
                g['stats'][m].update(
                    {f'd_{k}': v for k, v in welch_interval(g['values'][m],
                                                            base['values'][m]).items()})


# ----------------------------------------------------------------------------- measuring
def measure_costs(models: Sequence[Tuple[str, Optional[str]]], shape, device: str = 'cpu',
                  rounds: int = 5) -> List[Dict[str, Any]]:
    """Params, FLOPs (attention counted), time per ``test_step`` at batch 1 and peak inference
    memory of each ``(config, checkpoint)``, in order.

    Time is CPU time (``time.process_time``) on CPU, with one torch thread: the CPU time of
    several threads also counts their spin-waiting, which grows with the load of a shared
    machine. Synchronised wall time on CUDA. All the models are built first and timed in
    interleaved rounds (:func:`~attnplug.analysis.profiling.measure_interleaved`): on a
    machine whose load drifts (a shared machine, whose cores may be hyper-threads of one), the
    configs of one leaderboard then meet the same load, and their ratios stay comparable.
    """
    import torch

    from .build import build_model, config_scope, dummy_batch, load_config
    from .flops import config_complexity
    from .profiling import measure_interleaved, measure_peak_memory

    def test_call(model, data):
        def call():
            with torch.no_grad():
                model.test_step(data)
        return call

    static, calls = [], {}
    for i, (config, checkpoint) in enumerate(models):
        flops = config_complexity(config, shape)
        cfg = load_config(config)
        model = build_model(cfg, checkpoint, device, drop_auxiliary=True)
        calls[i] = test_call(model, dummy_batch(config_scope(cfg), flops['input_shape']))
        static.append({
            'params_m': flops['params'] / 1e6,
            'gflops': flops['flops'] / 1e9,
            'gflops_stock_mmengine': flops['flops_stock_mmengine'] / 1e9,
            'input_shape': 'x'.join(map(str, flops['input_shape'])),
        })
    clock = 'wall' if device.startswith('cuda') else 'cpu'
    threads = torch.get_num_threads()
    if clock == 'cpu':
        torch.set_num_threads(1)
    try:
        lat = measure_interleaved(calls, device, warmup=2, rounds=rounds, max_first_s=60,
                                  clock=clock)
    finally:
        torch.set_num_threads(threads)
    return [dict(static[i], ms_per_img=lat[i]['median_ms'],
                 infer_memory_mib=measure_peak_memory(calls[i], device))
            for i in range(len(static))]


# ----------------------------------------------------------------------------- the CSV
def _metric_order(groups: List[Dict[str, Any]], wanted: Optional[str]) -> List[str]:
    keys = sorted({k for g in groups for k in g.get('values', {})})
    first = wanted or next((k for k in METRIC_KEYS if k in keys), keys[0] if keys else None)
    return ([first] if first else []) + [k for k in keys if k != first]


def _csv_rows(groups, metrics, published, above=None) -> Tuple[List[Dict], List[str]]:
    above = above or {}
    fields = ['name', 'kind', 'config', 'baseline', 'baseline_status', 'n', 'seeds']
    fields += [f'{m}_seeds_above' for m in above]
    for m in metrics:
        fields += [f'{m}_mean', f'{m}_std', f'{m}_n', f'{m}_values', f'{m}_diff', f'{m}_ci_lo',
                   f'{m}_ci_hi', f'{m}_significant']
    fields += ['params_m', 'gflops', 'gflops_stock_mmengine', 'input_shape', 'ms_per_img',
               'time_x_baseline', 'infer_memory_mib', 'dataset', 'source']
    rows = []
    by_name = {g['name']: g for g in groups}
    for g in groups:
        row = {'name': g['name'], 'kind': 'measured', 'config': g['config'],
               'baseline': g['baseline'] or '', 'baseline_status': g['baseline_status'],
               'n': len(g['runs']), 'seeds': ' '.join(str(s) for s in g['seeds']),
               'dataset': g['dataset'],
               'source': '; '.join(sorted({r['source'].split(' (')[0] for r in g['runs']}))}
        for m, limit in above.items():
            row[f'{m}_seeds_above'] = seeds_above(g['values'].get(m, [None] * len(g['runs'])),
                                                  limit)
        for m in metrics:
            st = g['stats'].get(m, {})
            row.update({f'{m}_mean': st.get('mean'), f'{m}_std': st.get('std'),
                        f'{m}_n': st.get('n'),
                        f'{m}_values': ' '.join(f'{v:.4g}' for v in g['values'].get(m, [])
                                                if v is not None),
                        f'{m}_diff': st.get('d_diff'), f'{m}_ci_lo': st.get('d_lo'),
                        f'{m}_ci_hi': st.get('d_hi'),
                        f'{m}_significant': st.get('d_significant')
                        if st.get('d_diff') is not None else None})
        row.update({k: g.get('cost', {}).get(k) for k in
                    ('params_m', 'gflops', 'gflops_stock_mmengine', 'input_shape', 'ms_per_img',
                     'infer_memory_mib')})
        base = by_name.get(g['baseline'])
        if base is not None and base.get('cost', {}).get('ms_per_img') and \
                g.get('cost', {}).get('ms_per_img'):
            row['time_x_baseline'] = g['cost']['ms_per_img'] / base['cost']['ms_per_img']
        rows.append(row)
    for p in published:
        row = {'name': p['name'], 'kind': 'published', 'config': p.get('config') or '',
               'source': p['source'], 'dataset': p.get('dataset'), 'n': '',
               'params_m': p.get('params_m'), 'gflops': p.get('gflops')}
        for m, v in p.get('metrics', {}).items():
            row[f'{m}_mean'] = v
        row['ms_per_img'] = 1e3 / p['fps'] if p.get('fps') else None
        rows.append(row)
    return rows, fields


def recompute(runs: List[Dict[str, Any]], metric: Optional[str] = None,
              baseline: Optional[str] = None,
              thresholds: Optional[Dict[str, float]] = None
              ) -> Tuple[List[Dict[str, Any]], List[str]]:
    """The statistics of a leaderboard, without measuring anything: ``runs`` grouped
    (:func:`group_runs`) and compared with their baselines (:func:`compare`) on every metric,
    ``metric`` first. Returns ``(groups, metrics)``; :func:`csv_rows` turns them into the
    leaderboard's CSV rows."""
    groups = group_runs(runs, baseline)
    metrics = _metric_order(groups, metric)
    compare(groups, metrics, thresholds)
    return groups, metrics


def csv_rows(groups: List[Dict[str, Any]], metrics: Sequence[str],
             published: Sequence[Dict] = (), above: Optional[Dict[str, float]] = None
             ) -> List[Dict[str, Any]]:
    """The ``leaderboard.csv`` rows of :func:`recompute`'s groups (and ``published`` rows);
    ``above``: per metric, a value whose per-seed exceedances are counted (``k/n``)."""
    return _csv_rows(groups, metrics, published, above)[0]


def write(runs: List[Dict[str, Any]], out_dir: str, command: str, metric: Optional[str] = None,
          baseline: Optional[str] = None, published: Sequence[Dict] = (), shape=None,
          device: str = 'cpu', do_measure: bool = True,
          thresholds: Optional[Dict[str, float]] = None,
          above: Optional[Dict[str, float]] = None) -> List[Dict[str, Any]]:
    """Group ``runs``, compare, measure the costs, and write ``leaderboard.csv``, ``.md``,
    ``.png``, ``metafile.yml`` and ``model-index.yml`` into ``out_dir``. ``above``: per metric,
    a value; each row then says on how many of its seeds the metric is above it (for a metric
    whose mean hides that some seeds learned and others did not). Returns the groups."""
    above = dict(above or {})
    unknown = sorted(set(above) - {k for r in runs for k in r['metrics']})
    if runs and unknown:
        raise ValueError(f'leaderboard: seeds_above names {", ".join(unknown)}, which no run '
                         'has')
    started = reporting.now()
    groups, metrics = recompute(runs, metric, baseline, thresholds)
    costs = measure_costs([(g['runs'][0]['dumped_config'] or g['config'],
                            g['runs'][0]['checkpoint']) for g in groups], shape, device) \
        if do_measure else [{} for _ in groups]
    for g, cost in zip(groups, costs):
        g['cost'] = cost
    rows, fields = _csv_rows(groups, metrics, published, above)
    clock = 'synchronised wall time (CUDA)' if device.startswith('cuda') else \
        'CPU time of the process (time.process_time) with one torch thread'
    header = reporting.run_header(
        command, device, started, metric=metrics[0] if metrics else '',
        time=f'median {clock} of model.test_step, batch 1, after 2 warm-up calls; the '
             'configs timed in 5 interleaved rounds',
        learned='; '.join(f'{k} > {v:g}' for k, v in
                          (LEARNED_THRESHOLDS if thresholds is None else thresholds).items()),
        **({'seeds_above': above_text(above)} if above else {}))
    csv_path = reporting.write_csv(osp.join(out_dir, 'leaderboard.csv'), rows, fields, header)
    reporting.write_text(osp.join(out_dir, 'leaderboard.md'), render_markdown(csv_path))
    render_plot(csv_path, osp.join(out_dir, 'leaderboard.png'))
    write_model_index(groups, metrics, out_dir)
    return groups


# ----------------------------------------------------------------------------- rendering
def _num(v, fmt='{:.2f}') -> str:
    if v in (None, ''):
        return '—'
    return fmt.format(float(v))


def _flag(v) -> Optional[bool]:
    return {'True': True, 'False': False}.get(v) if isinstance(v, str) else v


def metric_format(metric: str) -> str:
    """The format of ``metric``'s values in the tables: 3 decimals for a mAP, else 2."""
    return '{:.3f}' if metric.endswith('mAP') else '{:.2f}'


def _order(measured: List[Dict], metric: str) -> List[Dict]:
    """By the metric's mean, best first; in the given order when some baseline did not learn
    (nothing is ranked then)."""
    if any(r['baseline_status'].startswith('not learned') for r in measured):
        return list(measured)
    return sorted(measured, key=lambda r: -float(r[f'{metric}_mean'] or -1e9))


def delta_text(r: Dict, metric: str) -> str:
    """A measured CSV row's difference to its baseline on ``metric``, as the tables show it:
    ``**+1.20** [0.30, 2.10]`` (the 95% interval excludes 0), ``+0.40 [-0.50, 1.30] *n.s.*``,
    or why there is none (``baseline``, not compared, no interval)."""
    fmt = metric_format(metric)
    if r['baseline_status'].startswith('is baseline'):
        return 'baseline'
    if r['baseline_status'].startswith('not learned'):
        return 'not compared (baseline did not learn)'
    if r.get(f'{metric}_diff') in (None, ''):
        return '—' if r['baseline_status'] in ('none', 'missing') else 'n.s. (no interval)'
    d = fmt.replace(':', ':+').format(float(r[f'{metric}_diff']))
    if r.get(f'{metric}_ci_lo') in (None, ''):
        return f'{d}, *n.s.* (no interval: n < 2)'
    ci = f'[{fmt.format(float(r[f"{metric}_ci_lo"]))}, {fmt.format(float(r[f"{metric}_ci_hi"]))}]'
    return f'**{d}** {ci}' if _flag(r[f'{metric}_significant']) else f'{d} {ci} *n.s.*'


def leaderboard_table(rows: List[Dict], metric: str,
                      above: Optional[Dict[str, float]] = None) -> List[str]:
    """The main table of measured CSV rows (strings, as :func:`reporting.read_csv` gives),
    ordered by :func:`_order`; ``above`` (the header's ``seeds_above``, :func:`parse_above`)
    adds a column per metric: the seeds above its value, ``k/n``."""
    fmt = metric_format(metric)
    above = above or {}
    cols = ['model', 'n', f'{metric} (mean ± std)', 'Δ vs baseline [95% CI]',
            *(f'seeds with {m} > {v:g}' for m, v in above.items()), 'params (M)',
            'GFLOPs', 'input', 'CPU ms/img', '× baseline time', 'infer. mem (MiB)']
    table = []
    for r in _order(rows, metric):
        mean, std = r.get(f'{metric}_mean'), r.get(f'{metric}_std')
        value = _num(mean, fmt) + (f' ± {_num(std, fmt)}' if std not in (None, '') else '')
        table.append([r['name'], r['n'], value, delta_text(r, metric),
                      *(r.get(f'{m}_seeds_above') or '—' for m in above),
                      _num(r.get('params_m')), _num(r.get('gflops')), r.get('input_shape') or '—',
                      _num(r.get('ms_per_img'), '{:.0f}'), _num(r.get('time_x_baseline')),
                      _num(r.get('infer_memory_mib'), '{:.0f}')])
    return reporting.markdown_table(cols, table, 'lrrl' + 'r' * len(above) + 'rrlrrr')


def render_markdown(csv_path: str, title: str = 'Leaderboard') -> List[str]:
    """The markdown of a leaderboard, from its CSV alone."""
    rows, header = reporting.read_csv(csv_path)
    metric = header.get('metric', '')
    measured = [r for r in rows if r['kind'] == 'measured']
    published = [r for r in rows if r['kind'] == 'published']
    fmt = metric_format(metric)
    lines = [f'# {title}', '', '<!-- Written by tools/leaderboard.py from leaderboard.csv; '
             'rerun it rather than editing. -->', '']
    lines += reporting.header_markdown(header)
    lines += ['', f'Each measured row is one config over its seeds: {metric} as mean ± std '
              '(n seeds). Δ is the difference of the means to the baseline with a 95% Welch t '
              'interval; **bold** marks a difference whose interval excludes 0, *n.s.* one whose '
              'interval contains 0 (or that has fewer than 2 seeds on a side: no interval). '
              'Params and FLOPs are of the inference model (mmseg\'s auxiliary head left out; '
              'FLOPs count one multiply-add as one FLOP, attention included). Time: as the '
              '`time` line above says, with its ratio to the baseline\'s in the same run.', '']
    if 'bbox' in metric or 'segm' in metric:
        lines += ['A detector\'s FLOPs, time and memory are measured with its trained weights '
                  '(its first seed\'s checkpoint, where that work dir is still there; random '
                  'weights otherwise) and depend on how many proposals and boxes those weights '
                  'keep, so they differ between detectors whose plugins cost almost nothing.',
                  '']
    blocked = sorted({r['baseline'] for r in measured
                      if r['baseline_status'].startswith('not learned')})
    for b in blocked:
        why = next(r['baseline_status'] for r in measured if r['baseline'] == b and
                   r['baseline_status'].startswith('not learned'))
        lines += [f'> **The baseline `{b}` did not learn** ({why[len("not learned: "):]}). '
                  'Nothing is ranked against it: its group shows no differences.', '']
    single = [r['name'] for r in measured if r['n'] and int(r['n']) < 2]
    if single:
        lines += [f'> **{len(single)} of {len(measured)} rows come from a single seed**: they '
                  'have no standard deviation and no interval, and nothing about them is '
                  'significant.', '']
    above = parse_above(header.get('seeds_above', ''))
    if above:
        lines += [f'`seeds with M > V`: on how many of its seeds the metric M is above V (the '
                  '`seeds_above` line): a mean and its interval cannot show that some seeds '
                  'learned and others did not.', '']
    order = _order(measured, metric)
    lines += leaderboard_table(order, metric, above)
    others = [k[:-len('_mean')] for k in (rows[0] if rows else {})
              if k.endswith('_mean') and k[:-len('_mean')] != metric]
    if others and measured:
        lines += ['', 'Other metrics (mean ± std; Δ to the baseline, **bold** where the 95% '
                  'interval excludes 0):', '']
        table = []
        for r in order:
            cells = [r['name']]
            for m in others:
                f = metric_format(m)
                cell = _num(r.get(f'{m}_mean'), f)
                if r.get(f'{m}_std') not in (None, ''):
                    cell += f' ± {_num(r[f"{m}_std"], f)}'
                if r.get(f'{m}_diff') not in (None, ''):
                    d = f.replace(':', ':+').format(float(r[f'{m}_diff']))
                    cell += f' (**{d}**)' if _flag(r.get(f'{m}_significant')) else f' ({d})'
                cells.append(cell)
            table.append(cells)
        lines += reporting.markdown_table(['model'] + others, table, 'l' + 'r' * len(others))
    if published:
        lines += ['', '## Published reference (not measured here, never ranked with the rows '
                  'above)', '']
        table = [[r['name'], _num(r.get(f'{metric}_mean'), fmt), _num(r.get('params_m')),
                  _num(r.get('gflops')), r['source']] for r in published]
        lines += reporting.markdown_table(['model', metric, 'params (M)', 'GFLOPs', 'source'],
                                          table, 'lrrrl')
    return lines


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


def render_plot(csv_path: str, path: str) -> str:
    """Metric (mean, error bar ± std) against GFLOPs, from the CSV: black the baseline, green /
    red a difference whose 95% interval excludes 0 (better / worse), grey not significant,
    hollow published rows."""
    rows, header = reporting.read_csv(csv_path)
    metric = header.get('metric', '')
    plt = reporting.pyplot()
    pts = [r for r in rows if r.get('gflops') and r.get(f'{metric}_mean')]
    labels = short_labels([r['name'] for r in pts])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = {'baseline': 'black', 'better': '#2ca02c', 'worse': '#d62728',
               'n.s.': '#9a9a9a', 'not compared': '#1f77b4'}
    used = set()
    for r, label in zip(pts, labels):
        x, y = float(r['gflops']), float(r[f'{metric}_mean'])
        err = float(r[f'{metric}_std']) if r.get(f'{metric}_std') else 0.
        if r['kind'] == 'published':
            kind = 'published'
        elif r['baseline_status'].startswith('is baseline'):
            kind = 'baseline'
        elif r.get(f'{metric}_diff') in (None, '') or r['baseline_status'] != 'learned':
            kind = 'not compared' if r['baseline_status'] != 'learned' else 'n.s.'
        elif _flag(r[f'{metric}_significant']):
            kind = 'better' if float(r[f'{metric}_diff']) > 0 else 'worse'
        else:
            kind = 'n.s.'
        used.add(kind)
        colour = colours.get(kind, '#1f77b4')
        ax.errorbar(x, y, yerr=err, fmt='none', ecolor=colour, elinewidth=1, capsize=2)
        ax.scatter(x, y, s=30 + 8 * float(r.get('params_m') or 1),
                   facecolors='none' if kind == 'published' else colour, edgecolors=colour)
        ax.annotate(label, (x, y), fontsize=7, xytext=(5, 4), textcoords='offset points')
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker='o', linestyle='', color=colours.get(k, '#1f77b4'),
                      markerfacecolor='none' if k == 'published' else colours.get(k, '#1f77b4'),
                      label={'better': 'better, 95% CI excludes 0',
                             'worse': 'worse, 95% CI excludes 0',
                             'n.s.': 'not significant'}.get(k, k))
               for k in ('baseline', 'better', 'worse', 'n.s.', 'not compared', 'published')
               if k in used]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc='best')
    ax.set_xlabel('GFLOPs (attention counted, 1 MAC = 1 FLOP)')
    ax.set_ylabel(f'{metric} (mean ± std over seeds)')
    ax.set_title(f'{header.get("date", "")}, {header.get("device", "")}', fontsize=8)
    if not pts:
        ax.text(0.5, 0.5, 'no rows with FLOPs and a metric', ha='center',
                transform=ax.transAxes)
    fig.tight_layout()
    return reporting.save_figure(fig, path)


def _repo_relative(path: Optional[str]) -> Optional[str]:
    """A path inside this repository as a path from its root (metafiles are read from there);
    anything else unchanged."""
    if not path:
        return path
    rel = osp.relpath(osp.abspath(path), ROOT)
    return path if rel.startswith('..') else rel


def write_model_index(groups, metrics, out_dir) -> None:
    """OpenMMLab's model-index format (``Collections`` / ``Models`` in a metafile), with the
    mean of each metric over the seeds; published rows are not models of this project."""
    import yaml
    models = []
    for g in groups:
        cost = g.get('cost', {})
        meta = {'Seeds': g['seeds']}
        if cost.get('params_m') is not None:
            meta['Parameters'] = int(round(cost['params_m'] * 1e6))
            meta['FLOPs'] = int(round(cost['gflops'] * 1e9))
        models.append({
            'Name': g['name'], 'In Collection': 'attnplug', 'Config': _repo_relative(g['config']),
            'Metadata': meta,
            'Results': [{'Task': TASKS.get(g['scope'], g['scope']),
                         'Dataset': g.get('dataset') or 'bundled',
                         'Metrics': {m: round(g['stats'][m]['mean'], 4) for m in metrics
                                     if g['stats'].get(m, {}).get('mean') is not None}}],
            'Weights': _repo_relative(g['runs'][0].get('checkpoint')),
        })
    metafile = {'Collections': [{'Name': 'attnplug',
                                 'Metadata': {'Training Data': 'see each model'},
                                 'README': 'docs/benchmarks/README.md'}],
                'Models': models}
    with open(osp.join(out_dir, 'metafile.yml'), 'w') as f:
        yaml.safe_dump(metafile, f, sort_keys=False, allow_unicode=True)
    with open(osp.join(out_dir, 'model-index.yml'), 'w') as f:
        yaml.safe_dump({'Import': ['metafile.yml']}, f, sort_keys=False)


def load_published(path: str) -> List[Dict[str, Any]]:
    """Entries of a published-numbers YAML; each must say ``published: true`` and give a
    ``source``."""
    import yaml
    with open(path) as f:
        entries = yaml.safe_load(f) or []
    for e in entries:
        if e.get('published') is not True or not e.get('source'):
            raise ValueError(f'{path}: entry {e.get("name")!r} must say published: true and '
                             'give a source to be listed (no unsourced numbers)')
    return entries


def name_without_seed(name: str) -> str:
    """``x_seed1`` -> ``x`` (work dirs named per seed by older scripts)."""
    return re.sub(r'[_-]seed\d+$', '', name)


def expand_work_dirs(paths: Sequence[str]) -> List[str]:
    """Runs: each path itself if it holds a run (a work dir, or a run record ``*.json``), else
    its ``seed*/`` subfolders (the layout of ``tools/benchmark_learning.py``'s work root:
    ``<root>/<config>/seed<k>/``) or its ``seed*.json`` records (the layout of its records:
    ``<records>/<config>/seed<k>.json``)."""
    out = []
    for p in paths:
        seeds = sorted(glob.glob(osp.join(p, 'seed*')))
        if seeds and not glob.glob(osp.join(p, '*.py')):
            out += [s for s in seeds if osp.isdir(s) or s.endswith('.json')]
        else:
            out.append(p)
    return out
