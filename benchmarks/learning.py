"""Train and test configs over seeds with the stock tools, and what a run leaves behind.

The library behind ``tools/benchmark_learning.py`` and ``tools/sweep.py``. Each (config, seed)
goes through attnplug's ``tools/train.py`` and then ``tools/test.py`` on its last checkpoint,
each a fresh subprocess run from the repository root (where ``data/`` is), in
``<work_root>/<name>/seed<k>/``; ``jobs`` runs at a time, each with ``cores // jobs`` threads.
The seed goes in as ``randomness.seed=k`` with ``randomness.deterministic=True``
(``torch.use_deterministic_algorithms``), so a rerun of one seed with the same thread count
repeats its run.

A *schedule* file (``configs/_base_/schedules/*.py``, import-free) can replace the configs' own
schedule: each run then trains a generated delta config
``_base_ = ['<config>']`` + the schedule's lines, named after the config with its ``<N>iter``
token replaced by the schedule's tag (``schedule_1200iter.py`` -> ``1200iter``), written into
the run's work dir. ``iters`` instead shortens every schedule alike (smoke runs).

Each work dir gets a ``run.json`` (and, given a records folder, a copy that can be committed:
the leaderboards are built from those): name, config, seed, baseline name, schedule, the
thread count, the CPU time of training and of testing (``os.wait4``: the subprocess's own CPU
time, which other jobs on a shared machine do not inflate the way they do wall time), and,
for segmentation, the IoU of the cue classes (person, bicycle, car: only the long-range cue at
the image centre decides them, data/README.md) from mmseg's per-class table.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from .bundled import CUE_CLASSES
from .paths import ROOT, rel

_CONFIG_LOCK = threading.Lock()
#: The bundled configs each task's benchmark runs by default.
DEFAULT_GLOBS = {'seg': 'configs/*/*cityscapes-bundled*.py',
                 'det': 'configs/*/faster-rcnn_r18*_coco-bundled.py'}

__all__ = ['CUE_CLASSES', 'DEFAULT_GLOBS', 'rel', 'config_bases', 'baseline_of', 'default_configs',
           'schedule_tag', 'scheduled_name', 'write_scheduled_config', 'schedule_options',
           'missing_data', 'per_class_iou', 'load_record', 'record_path', 'run_one',
           'run_all', 'start_by', 'sitting', 'machines', 'exit_status', 'cost_summary',
           'cost_report']


def config_bases(config: str) -> List[str]:
    """The ``_base_`` entries of a config file (repository-relative), read as a Python literal
    from its syntax tree (the config is not executed)."""
    import ast
    path = osp.join(ROOT, config)
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            bases = ast.literal_eval(node.value)
            return [bases] if isinstance(bases, str) else list(bases)
    return []


def baseline_of(config: str) -> str:
    """The baseline of a project config: the first project config among its ``_base_`` entries
    (a file under ``configs/``, not an ``mmseg::``/``mmdet::`` base and not a ``_base_/``
    fragment); a config that inherits none is its own baseline."""
    for base in config_bases(config):
        if '::' in base:
            continue
        path = rel(osp.join(osp.dirname(osp.join(ROOT, config)), base))
        parts = path.split(osp.sep)
        if parts[0] == 'configs' and '_base_' not in parts:
            return path
    return config


def default_configs(task: str) -> List[str]:
    """The task's bundled configs, baselines first."""
    configs = sorted(rel(c) for c in glob.glob(osp.join(ROOT, DEFAULT_GLOBS[task])))
    return sorted(configs, key=lambda c: baseline_of(c) != c)


def schedule_tag(schedule: str) -> str:
    """``schedule_1200iter_64x128.py`` -> ``1200iter_64x128``;
    ``schedule_det_adamw-200iter_256x160.py`` -> ``adamw-200iter_256x160``."""
    stem = osp.splitext(osp.basename(schedule))[0]
    return re.sub(r'^schedule_(det_|seg_)?', '', stem)


def scheduled_name(config: str, schedule: Optional[str]) -> str:
    """The name of ``config`` trained on ``schedule``: its ``<N>iter`` token replaced by the
    schedule's (``300iter`` -> ``1200iter``, ``adamw-200iter``), and its trailing size by the
    schedule's size when the schedule has one (``-128x256`` -> ``-64x128``, appended when the
    config names none)."""
    name = osp.splitext(osp.basename(config))[0]
    if not schedule:
        return name
    m = re.match(r'(?P<iters>.*?)(?:_(?P<size>\d+x\d+))?$', schedule_tag(schedule))
    name, count = re.subn(r'(?<=[_-])\d+iter(?=[_-]|$)', m.group('iters'), name)
    if not count:
        name = f"{name}_{m.group('iters')}"
    if m.group('size'):
        name, count = re.subn(r'(?<=[_-])\d+x\d+$', m.group('size'), name)
        if not count:
            name = f"{name}-{m.group('size')}"
    return name


def write_scheduled_config(config: str, schedule: str, work_dir: str) -> str:
    """Write ``_base_ = [config]`` + the schedule's lines as ``<work_dir>/<name>.py``."""
    with open(osp.join(ROOT, schedule)) as f:
        body = f.read()
    path = osp.join(work_dir, scheduled_name(config, schedule) + '.py')
    os.makedirs(work_dir, exist_ok=True)
    with open(path, 'w') as f:
        f.write(f'# {rel(config)} on the schedule {rel(osp.join(ROOT, schedule))} '
                '(written by benchmarks/learning.py)\n'
                f"_base_ = ['{osp.abspath(osp.join(ROOT, config))}']\n{body}")
    return path


def schedule_options(config: str, iters: Optional[int]) -> List[str]:
    """``--cfg-options`` that cut ``config``'s schedule to ``iters`` iterations: max_iters,
    val and checkpoint intervals become ``iters``, the logger interval min(20, iters), and every
    iteration-based ``begin``/``end`` of ``param_scheduler`` is scaled by iters / max_iters."""
    if iters is None:
        return []
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    scale = iters / cfg.train_cfg.max_iters
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            f'default_hooks.logger.interval={min(20, iters)}']
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for i, sched in enumerate(schedulers):
        if sched.get('by_epoch', True):
            continue
        end = sched.get('end')
        if end is not None and end < 10**8:
            end = max(1, round(end * scale))
            opts.append(f'param_scheduler.{i}.end={end}')
        if sched.get('begin'):
            begin = round(sched['begin'] * scale)
            opts.append(f'param_scheduler.{i}.begin={min(begin, end - 1) if end else begin}')
        for j, milestone in enumerate(sched.get('milestones') or []):
            opts.append(f'param_scheduler.{i}.milestones.{j}={max(1, round(milestone * scale))}')
    return opts


def missing_data(config: str, cfg_options: Sequence[str] = ()) -> Optional[str]:
    """Why ``config`` (with the ``--cfg-options`` strings ``cfg_options`` applied, as the stock
    tools apply them) cannot train here, or None: the first ``data_root`` of its train, val
    and test dataloaders (through dataset wrappers) that is not a folder, relative to the
    repository root as the stock tools run. A fresh clone has no ``data/`` until
    ``data/generate.py`` writes it; without this check every run of a benchmark would start a
    training only to fail inside mmengine's dataset scan."""
    import argparse

    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(ROOT, config))
    if cfg_options:
        options = argparse.Namespace()
        DictAction([], 'options')(None, options, list(cfg_options))
        cfg.merge_from_dict(options.options)
    for split in ('train', 'val', 'test'):
        dataset, key = (cfg.get(f'{split}_dataloader') or {}).get('dataset'), \
            f'{split}_dataloader.dataset'
        while isinstance(dataset, dict) and 'data_root' not in dataset and \
                isinstance(dataset.get('dataset'), dict):
            dataset, key = dataset['dataset'], key + '.dataset'
        root = dataset.get('data_root') if isinstance(dataset, dict) else None
        if root and not osp.isdir(osp.join(ROOT, root)):
            return (f'{rel(config)}: {key}.data_root {root!r} is not a folder under {ROOT}; '
                    'the bundled data is made by: python data/generate.py --root data')
    return None


def per_class_iou(log_path: str) -> Dict[str, float]:
    """{class: IoU} from the last per-class table mmseg's IoUMetric printed into ``log_path``."""
    with open(log_path, errors='replace') as f:
        text = f.read()
    start = text.rfind('per class results:')
    table = {}
    if start < 0:
        return table
    header = None
    for line in text[start:].splitlines()[1:]:
        if line.startswith('+'):
            continue
        if not line.startswith('|'):
            if header is not None:
                break
            continue
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells))
        value = row.get('IoU', 'nan')
        table[row.get('Class', cells[0])] = float(value) if value != 'nan' else float('nan')
    return table


def _run_tool(args_list: List[str], log_path: str, threads: Optional[int] = None):
    """Run ``python tools/<...>`` from the repository root; (exit code, CPU s, wall s).

    The CPU time is the child's own (``os.wait4``), so runs in parallel threads do not count
    each other's. ``threads``: the child's intra-op thread count (``OMP_NUM_THREADS``)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    if threads:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    t0 = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([sys.executable, *args_list], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, cpu, time.perf_counter() - t0


def _tail(path: str, n: int = 3) -> str:
    with open(path, errors='replace') as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return ' | '.join(lines[-n:])[-400:]


def _newest(pattern: str) -> Optional[str]:
    paths = sorted(glob.glob(pattern))
    return paths[-1] if paths else None


def run_one(config: str, seed: int, work_root: str, schedule: Optional[str] = None,
            iters: Optional[int] = None, cfg_options: Sequence[str] = (),
            reuse: bool = False, deterministic: bool = True,
            baseline: Optional[str] = None, records: Optional[str] = None,
            threads: Optional[int] = None, start_by: Optional[float] = None
            ) -> Dict[str, Any]:
    """Train and test ``config`` (repository-relative) with ``seed``; returns the run's row
    (also written to ``<work dir>/run.json``). ``baseline``: the baseline config (default:
    :func:`baseline_of`). ``records``: a folder that keeps a copy of every finished run's row
    as ``<records>/<name>/seed<k>.json`` (:func:`record_path`), so that the run outlives its
    work dir. ``reuse``: return the row of a finished run instead of running it again, from the
    work dir or else from ``records``. ``threads``: the subprocesses' thread count.
    ``start_by``: a time (``time.time()``) after which a run that is not reused is not started:
    its row then says so (``skipped``, ``error``), so that a benchmark finished over several
    sittings can stop between runs instead of being killed in one."""
    name = scheduled_name(config, schedule)
    base = rel(baseline) if baseline else baseline_of(config)
    work = osp.join(work_root, name, f'seed{seed}')
    os.makedirs(work, exist_ok=True)
    with _CONFIG_LOCK:  # mmengine's config loading is not thread-safe (package lookups)
        train_config = write_scheduled_config(config, schedule, work) if schedule else config
        cut = schedule_options(train_config, iters)
    row = dict(name=name, config=config, seed=seed, baseline=base,
               baseline_name=scheduled_name(base, schedule), schedule=schedule or '',
               iters=iters or '', work_dir=rel(work),
               threads=threads or os.environ.get('OMP_NUM_THREADS', ''))
    opts = (cut + [f'randomness.seed={seed}', f'randomness.deterministic={deterministic}'] +
            list(cfg_options))
    cfg_opts = ['--cfg-options', *opts]
    ckpt_file = osp.join(work, 'last_checkpoint')
    if reuse:
        old = _finished(work, records and record_path(records, name, seed), row)
        if old is not None:
            return old
    if start_by is not None and time.time() > start_by:
        row.update(skipped=True, error='not started: the time to start runs had passed '
                   '(--stop-after)')
        return row
    with _CONFIG_LOCK:
        why = missing_data(train_config, opts)
    if why:
        row['error'] = f'not started: {why}'
        return _save(row, work)
    from .reporting import cpu_model
    row['machine'] = cpu_model()  # CPU seconds compare only between runs of one machine
    rc, cpu, wall = _run_tool(['tools/train.py', train_config, '--work-dir', work, *cfg_opts],
                              osp.join(work, 'train.log'), threads)
    row.update(train_cpu_s=cpu, train_wall_s=wall)
    if rc != 0:
        row['error'] = f'train exited {rc}: {_tail(osp.join(work, "train.log"))}'
        return _save(row, work)
    with open(ckpt_file) as f:
        ckpt = f.read().strip()
    test_dir = osp.join(work, 'test')
    rc, cpu, wall = _run_tool(['tools/test.py', train_config, ckpt, '--work-dir', test_dir,
                               *cfg_opts], osp.join(work, 'test.log'), threads)
    row.update(test_cpu_s=cpu, test_wall_s=wall)
    if rc != 0:
        row['error'] = f'test exited {rc}: {_tail(osp.join(work, "test.log"))}'
        return _save(row, work)
    scalars = _newest(osp.join(test_dir, '2*', '2*.json'))
    log = _newest(osp.join(test_dir, '2*', '2*.log'))
    if scalars is None or log is None:
        row['error'] = f'no test results under {test_dir}'
        return _save(row, work)
    with open(scalars) as f:
        row['metrics'] = {k: v for k, v in json.load(f).items()
                          if isinstance(v, (int, float)) and k not in ('step', 'time',
                                                                       'data_time')}
    ious = per_class_iou(log)
    extra = {f'{c}_IoU': ious[c] for c in CUE_CLASSES if c in ious}
    if len(extra) == len(CUE_CLASSES):
        extra['cue_classes_mIoU'] = sum(extra.values()) / len(CUE_CLASSES)
    row['extra_metrics'] = extra
    _save(row, work)
    if records:
        path = record_path(records, name, seed)
        os.makedirs(osp.dirname(path), exist_ok=True)
        _save(row, osp.dirname(path), osp.basename(path))
    return row


def _save(row: Dict[str, Any], folder: str, filename: str = 'run.json') -> Dict[str, Any]:
    with open(osp.join(folder, filename), 'w') as f:
        json.dump(row, f, indent=1)
        f.write('\n')
    return row


def load_record(path: str) -> Dict[str, Any]:
    """A run's row (a work dir's ``run.json`` or a committed ``seed<k>.json``); ``{}`` when the
    file is not there."""
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def record_path(records: str, name: str, seed: int) -> str:
    """Where the row of run (``name``, ``seed``) is kept: ``<records>/<name>/seed<k>.json``."""
    return osp.join(records, name, f'seed{seed}.json')


def _finished(work: str, record: Optional[str], row: Dict[str, Any]
              ) -> Optional[Dict[str, Any]]:
    """The row of a finished, error-free run of the same config, schedule and seed as ``row``:
    from ``work``'s ``run.json`` when its checkpoint is there, else from ``record``."""
    candidates = []
    if osp.isfile(osp.join(work, 'last_checkpoint')):
        candidates.append(osp.join(work, 'run.json'))
    if record:
        candidates.append(record)
    for path in candidates:
        old = load_record(path)
        if not old:
            continue
        same = all(old.get(k) == row[k] for k in ('config', 'seed', 'schedule', 'iters'))
        if same and not old.get('error') and old.get('metrics'):
            print(f'  reusing {rel(path)}', file=sys.stderr, flush=True)
            return dict(old, reused=True)
    return None


def run_all(configs: Sequence[str], seeds: Sequence[int], work_root: str, jobs: int = 1,
            **kwargs) -> List[Dict[str, Any]]:
    """:func:`run_one` for every config and seed (configs outer, seeds inner), ``jobs`` at a
    time. With ``jobs > 1`` each run's subprocesses get ``cores // jobs`` threads: the bundled
    models are too small to keep several threads busy, so parallel single-threaded runs finish
    a benchmark sooner than one run after another (each run's CPU time is its own either way).
    Rows come back in the order of the grid."""
    from concurrent.futures import ThreadPoolExecutor
    grid = [(config, seed) for config in configs for seed in seeds]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    jobs = max(1, min(jobs, len(grid) or 1))
    if jobs > 1:
        kwargs.setdefault('threads', max(1, (cores or 1) // jobs))

    def one(i):
        config, seed = grid[i]
        print(f'[{i + 1}/{len(grid)}] {config} seed {seed}', file=sys.stderr, flush=True)
        row = run_one(config, seed, work_root, **kwargs)
        print(f'  [{i + 1}/{len(grid)}] -> '
              f'{json.dumps({k: row.get(k) for k in ("metrics", "error")})}',
              file=sys.stderr, flush=True)
        return row

    if jobs == 1:
        return [one(i) for i in range(len(grid))]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, range(len(grid))))


def start_by(stop_after_minutes: Optional[float]) -> Optional[float]:
    """The ``start_by`` time of :func:`run_one` for a ``--stop-after MINUTES`` option."""
    return None if stop_after_minutes is None else time.time() + 60 * stop_after_minutes


def sitting(rows: Sequence[Dict[str, Any]]) -> str:
    """What one call of a benchmark tool did with its grid: runs made, reused (from an
    earlier sitting's committed row or work dir) and not started (``--stop-after``)."""
    reused = sum(1 for r in rows if r.get('reused'))
    skipped = sum(1 for r in rows if r.get('skipped'))
    return (f'{len(rows) - reused - skipped} made, {reused} reused from earlier sittings, '
            f'{skipped} not started')


def machines(rows: Sequence[Dict[str, Any]]) -> str:
    """Which CPUs made the finished ``rows`` (made or reused): ``'<model>: k runs'`` per
    machine, most runs first, ``; ``-joined. Rows written before runs kept their machine say
    ``not recorded``. A table rebuilt from reused rows names the machine that wrote it in its
    ``device`` line; this says where the runs, and their CPU seconds, come from."""
    from collections import Counter
    count = Counter(r.get('machine') or 'not recorded' for r in rows
                    if r.get('metrics') and not r.get('error') and not r.get('skipped'))
    return '; '.join(f'{m}: {n} run{"s" if n != 1 else ""}' for m, n in
                     sorted(count.items(), key=lambda kv: (kv[0] == 'not recorded', -kv[1],
                                                           kv[0]))) or 'no finished run'


def exit_status(rows: Sequence[Dict[str, Any]]) -> int:
    """A benchmark tool's exit status: 1 when a run failed, 0 otherwise. Runs left unstarted by
    ``--stop-after`` are not failures: they are listed and the next sitting makes them. Says
    how many were left."""
    skipped = [r for r in rows if r.get('skipped')]
    if skipped:
        print(f'{len(skipped)} of {len(rows)} runs not started (--stop-after); run the same '
              'command with --reuse to go on', file=sys.stderr)
    return 1 if any(r.get('error') and not r.get('skipped') for r in rows) else 0


RUN_FIELDS = ['name', 'seed', 'config', 'baseline_name', 'schedule', 'iters', 'train_cpu_s',
              'test_cpu_s', 'work_dir', 'error']


def report(rows: List[Dict[str, Any]], out: str, header: Dict[str, str]) -> None:
    """``<out>.csv`` (one row per run: every metric, the CPU times) and ``<out>.md``. Runs
    that ``--stop-after`` left unstarted are not rows: the markdown names them below the
    table."""
    from . import reporting
    skipped = [r for r in rows if r.get('skipped')]
    rows = [r for r in rows if not r.get('skipped')]
    metric_keys = sorted({k for r in rows for k in (r.get('metrics') or {})} |
                         {k for r in rows for k in (r.get('extra_metrics') or {})})
    flat = []
    for r in rows:
        d = {k: r.get(k) for k in RUN_FIELDS}
        d.update(r.get('metrics') or {})
        d.update(r.get('extra_metrics') or {})
        flat.append(d)
    fields = RUN_FIELDS[:-2] + metric_keys + RUN_FIELDS[-2:]
    reporting.write_csv(out + '.csv', flat, fields, header)
    shown = [k for k in ('mIoU', 'cue_classes_mIoU', 'coco/bbox_mAP', 'coco/bbox_mAP_50')
             if k in metric_keys]
    lines = ['# Training runs (one row per config and seed)', '',
             '<!-- Written by tools/benchmark_learning.py; rerun it rather than editing. -->',
             '']
    lines += reporting.header_markdown(header)
    lines += ['', 'Per run: the test metrics and the CPU time of training and testing (the '
              'subprocesses\' own CPU time). The seeds are summarised, with intervals against '
              'the baseline, by `tools/leaderboard.py`.', '']
    table = [[r['name'] + (f' — {r["error"]}' if r.get('error') else ''), r['seed']] +
             ['' if r.get(k) in (None, '') else f'{float(r[k]):.3f}' if k.endswith('mAP') or
              '/bbox' in k else f'{float(r[k]):.2f}' for k in shown] +
             ['' if r.get('train_cpu_s') is None else f'{r["train_cpu_s"]:.0f}',
              '' if r.get('test_cpu_s') is None else f'{r["test_cpu_s"]:.0f}'] for r in flat]
    lines += reporting.markdown_table(['config', 'seed'] + shown + ['train CPU s', 'test CPU s'],
                                      table)
    if skipped:
        lines += ['', f'Not started in this sitting (`--stop-after`, {len(skipped)}): '
                  + ', '.join(f'{r["name"]} seed {r["seed"]}' for r in skipped) + '.']
    reporting.write_text(out + '.md', lines)


# ----------------------------------------------------------------------------- the cost
COST_FIELDS = ['part', 'records', 'runs', 'planned', 'train_cpu_h', 'test_cpu_h',
               'cpu_s_per_run', 'run_wall_h', 'remaining_cpu_h_estimate', 'machines']


def cost_summary(parts: Dict[str, str], planned: Optional[Dict[str, int]] = None
                 ) -> List[Dict[str, Any]]:
    """What a benchmark cost, from its committed run rows: one row per part (``name ->
    records folder``) and a ``total``.

    Each part: the runs whose row is there, the CPU hours of their training and testing (the
    subprocesses' own CPU time, which other jobs on a shared machine do not inflate the way
    they inflate wall time), the mean CPU seconds per run, the sum of the runs' wall hours, and,
    given ``planned`` run counts, an *estimate* of the CPU hours the missing runs need (missing
    runs x the part's mean). Rows that record an error are not counted.
    """
    planned = planned or {}
    rows, every = [], []
    for part, folder in parts.items():
        records = [load_record(p) for p in
                   sorted(glob.glob(osp.join(ROOT, folder, '**', 'seed*.json'), recursive=True))]
        done = [r for r in records if r.get('metrics') and not r.get('error')]
        every += done
        train = sum(r.get('train_cpu_s') or 0. for r in done)
        test = sum(r.get('test_cpu_s') or 0. for r in done)
        wall = sum((r.get('train_wall_s') or 0.) + (r.get('test_wall_s') or 0.) for r in done)
        per_run = (train + test) / len(done) if done else None
        want = planned.get(part)
        if want is not None and len(done) >= want:
            remaining = 0.
        elif want is None or per_run is None:
            remaining = None  # nothing to count against, or no run to estimate from
        else:
            remaining = (want - len(done)) * per_run / 3600
        rows.append({
            'part': part, 'records': rel(osp.join(ROOT, folder)), 'runs': len(done),
            'planned': want, 'train_cpu_h': train / 3600, 'test_cpu_h': test / 3600,
            'cpu_s_per_run': per_run, 'run_wall_h': wall / 3600,
            'remaining_cpu_h_estimate': remaining, 'machines': machines(done)})
    total = {'part': 'total', 'records': '', 'runs': sum(r['runs'] for r in rows),
             'machines': machines(every)}
    total['planned'] = sum(r['planned'] for r in rows) if all(
        r['planned'] is not None for r in rows) else None
    for key in ('train_cpu_h', 'test_cpu_h', 'run_wall_h'):
        total[key] = sum(r[key] for r in rows)
    total['cpu_s_per_run'] = None
    remaining = [r['remaining_cpu_h_estimate'] for r in rows]
    total['remaining_cpu_h_estimate'] = sum(remaining) if all(
        v is not None for v in remaining) else None
    return rows + [total]


def cost_report(rows: List[Dict[str, Any]], out: str, header: Dict[str, str],
                jobs: int) -> None:
    """``<out>.csv`` and ``<out>.md`` of :func:`cost_summary`'s rows, with what the whole
    benchmark takes on this machine at ``jobs`` runs at a time, one thread each: its CPU hours
    (done + estimated remaining) / min(jobs, cores)."""
    from . import reporting
    total = rows[-1]
    cpu = total['train_cpu_h'] + total['test_cpu_h']
    lanes = max(1, min(jobs, os.cpu_count() or 1))
    header = dict(header)
    header['runs at a time'] = f'{jobs} (one thread each)'
    header['cpu hours of the runs made'] = f'{cpu:.2f}'
    header['runs made on'] = total['machines']
    if total['remaining_cpu_h_estimate'] is not None:
        whole = cpu + total['remaining_cpu_h_estimate']
        made = (f'all {total["runs"]} runs made' if total['runs'] >= total['planned'] else
                f'{total["runs"]} of {total["planned"]} runs made; the rest estimated from '
                'each part\'s mean')
        header['whole benchmark'] = (f'{whole:.1f} CPU hours ({made}), about '
                                     f'{whole / lanes:.1f} h of wall time at {lanes} runs at a time')
    else:
        unknown = [r['part'] for r in rows[:-1] if r['remaining_cpu_h_estimate'] is None]
        header['whole benchmark'] = ('not estimated: ' + ', '.join(unknown) +
                                     ' without a planned count or without a run to '
                                     'estimate from')
    reporting.write_csv(out + '.csv', rows, COST_FIELDS, header)

    def f(v, spec):
        return '' if v is None else format(v, spec)
    table = [[r['part'], r['runs'], f(r['planned'], 'd'), f(r['train_cpu_h'], '.2f'),
              f(r['test_cpu_h'], '.2f'), f(r['cpu_s_per_run'], '.0f'), f(r['run_wall_h'], '.2f'),
              f(r['remaining_cpu_h_estimate'], '.1f')] for r in rows]
    lines = ['# What the bundled benchmark costs', '',
             '<!-- Written by tools/benchmark_cost.py from the committed run rows; rerun it '
             'rather than editing. -->', '']
    lines += reporting.header_markdown(header)
    lines += [''] + reporting.markdown_table(
        ['part', 'runs made', 'runs planned', 'train CPU h', 'test CPU h', 'CPU s per run',
         'sum of run wall h', 'remaining CPU h (estimate)'], table)
    lines += ['', 'CPU time is each run\'s own (its subprocesses\', `os.wait4`); wall time is '
              'inflated whenever other work shared the machine. The folders:', '']
    lines += [f'- {r["part"]}: `{r["records"]}`' for r in rows[:-1]]
    reporting.write_text(out + '.md', lines)
