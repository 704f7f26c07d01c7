"""Train and test the bundled-Cityscapes configs on one schedule and tabulate what attention buys.

    python tools/benchmark_learning.py                       # every *cityscapes-bundled* config
    python tools/benchmark_learning.py --iters 4 --configs \\
        configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py \\
        configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py

Each config goes through attnplug's ``tools/train.py`` and then ``tools/test.py`` on its last
checkpoint, each a fresh subprocess run from the repository root (where ``data/cityscapes`` is),
one config after another. All configs share the schedule and the seed of their base
(``randomness.seed``); ``--iters N`` shortens all of them alike: ``train_cfg.max_iters``,
``train_cfg.val_interval`` and the checkpoint interval become N, the logger interval min(20, N),
and every iteration-based ``begin``/``end`` of ``param_scheduler`` is scaled by N / max_iters.

Collected per config: mIoU, aAcc, mAcc and the IoU of person, bicycle and car (the classes that
only the long-range cue at the image centre decides, see data/README.md) from the test run's log
(mmseg's per-class table) and scalars JSON; the parameters of the whole model and of its decode
head (the model built from the config, not trained); the wall time of training and of testing.
Each attention config is compared with its baseline: the bundled config its ``_base_`` names
(the FCN R-18-D8 baseline, or the UNet one for Attention U-Net); a baseline is its own.

Outputs: ``<out>.md`` (date, device, command, table) and ``<out>.csv``; ``--out`` defaults to
``docs/benchmarks/learning_bundled``. Work directories go under ``--work-root``
(default ``work_dirs/benchmark_learning``), one per config; their ``train.log``/``test.log`` hold
the tools' output.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ATTENTION_CLASSES = ('person', 'bicycle', 'car')
DEFAULT_GLOB = 'configs/*/*cityscapes-bundled*.py'


def rel(path):
    return osp.relpath(osp.abspath(path), ROOT)


def baseline_of(config):
    """The bundled config that ``config``'s ``_base_`` names, or ``config`` itself."""
    with open(osp.join(ROOT, config)) as f:
        text = f.read()
    match = re.search(r'_base_\s*=\s*\[(.*?)\]', text, re.S)
    for base in re.findall(r"['\"]([^'\"]+)['\"]", match.group(1) if match else ''):
        if 'bundled' in base and not base.startswith(('mmseg::', 'mmdet::')) \
                and '_base_/' not in base:
            return rel(osp.join(osp.dirname(osp.join(ROOT, config)), base))
    return config


def schedule_options(config, iters):
    """``--cfg-options`` that cut ``config``'s schedule to ``iters`` iterations."""
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
    return opts


def count_params(config):
    """(all parameters, decode-head parameters) of the model the config builds."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import attnplug  # noqa: F401  (registers attnplug's modules)
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for p in model.decode_head.parameters()) \
        if hasattr(model, 'decode_head') else 0
    return total, head


def run_tool(args_list, log_path):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    t0 = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable, *args_list], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    return proc.returncode, time.perf_counter() - t0


def _tail(path, n=3):
    with open(path, errors='replace') as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return ' | '.join(lines[-n:])[-400:]


def newest(pattern):
    paths = sorted(glob.glob(pattern))
    return paths[-1] if paths else None


def per_class_iou(log_path):
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
        with_value = row.get('IoU', 'nan')
        table[row.get('Class', cells[0])] = float(with_value) if with_value != 'nan' \
            else float('nan')
    return table


def run_config(config, args):
    name = osp.splitext(osp.basename(config))[0]
    work = osp.join(args.work_root, name)
    os.makedirs(work, exist_ok=True)
    row = dict(config=config, method=osp.basename(osp.dirname(config)),
               baseline=baseline_of(config), iters=args.iters or '')
    try:
        total, head = count_params(config)
        row.update(params_m=total / 1e6, head_params_m=head / 1e6)
    except Exception as exc:  # the table still gets the metrics
        row['error'] = f'params: {exc}'[:300]
    opts = schedule_options(config, args.iters) + list(args.cfg_options)
    cfg_opts = ['--cfg-options', *opts] if opts else []

    ckpt_file = osp.join(work, 'last_checkpoint')
    if args.reuse and osp.isfile(ckpt_file):
        print(f'  reusing {ckpt_file}', file=sys.stderr, flush=True)
    else:
        rc, secs = run_tool(['tools/train.py', config, '--work-dir', work, *cfg_opts],
                            osp.join(work, 'train.log'))
        row['train_s'] = secs
        if rc != 0:
            row['error'] = f'train exited {rc}: {_tail(osp.join(work, "train.log"))}'
            return row
    with open(ckpt_file) as f:
        ckpt = f.read().strip()
    test_dir = osp.join(work, 'test')
    rc, secs = run_tool(['tools/test.py', config, ckpt, '--work-dir', test_dir, *cfg_opts],
                        osp.join(work, 'test.log'))
    row['test_s'] = secs
    if rc != 0:
        row['error'] = f'test exited {rc}: {_tail(osp.join(work, "test.log"))}'
        return row
    scalars = newest(osp.join(test_dir, '2*', '2*.json'))
    log = newest(osp.join(test_dir, '2*', '2*.log'))
    if scalars is None or log is None:
        row['error'] = f'no test results under {test_dir}'
        return row
    with open(scalars) as f:
        metrics = json.load(f)
    row.update(mIoU=metrics.get('mIoU'), aAcc=metrics.get('aAcc'), mAcc=metrics.get('mAcc'))
    ious = per_class_iou(log)
    for cls in ATTENTION_CLASSES:
        row[f'{cls}_IoU'] = ious.get(cls)
    vals = [ious.get(c) for c in ATTENTION_CLASSES]
    if all(v is not None for v in vals):
        row['cue_classes_mIoU'] = sum(vals) / len(vals)
    return row


def add_deltas(rows):
    by_config = {r['config']: r for r in rows}
    for row in rows:
        base = by_config.get(row['baseline'])
        if base is None or base is row:
            continue
        for key in ('mIoU', 'cue_classes_mIoU'):
            if row.get(key) is not None and base.get(key) is not None:
                row[f'd_{key}'] = row[key] - base[key]


CSV_FIELDS = ['config', 'method', 'baseline', 'iters', 'params_m', 'head_params_m', 'train_s',
              'test_s', 'mIoU', 'aAcc', 'mAcc', 'person_IoU', 'bicycle_IoU', 'car_IoU',
              'cue_classes_mIoU', 'd_mIoU', 'd_cue_classes_mIoU', 'error']


def _f(v, spec):
    return '' if v in (None, '') else format(v, spec)


def device_description():
    import torch
    model = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            model = next(ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name'))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return f'{model}, {cores} cores available, torch {torch.__version__}'


def write_report(rows, args, meta):
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out + '.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction='ignore')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, '') for k in CSV_FIELDS})
    schedule = (f'{args.iters} iterations for every config (--iters)' if args.iters
                else 'each config\'s own (train_cfg.max_iters of the config)')
    lines = [
        '# What attention buys on the bundled Cityscapes (same schedule, same seed)', '',
        f'- date: {meta["date"]}', f'- device: {meta["device"]}',
        f'- schedule: {schedule}',
        f'- wall time of the whole run: {meta["wall_s"] / 60:.1f} min',
        '- metrics: IoU in % on the 16 val images; "cue classes" is the mean IoU of person, '
        'bicycle and car, which only the long-range cue at the image centre decides '
        '(data/README.md); Δ is against the config\'s baseline', '',
        'Command:', '', '```shell', meta['command'], '```', '']
    if args.iters and args.iters < 100:
        lines += [
            f'> **Shortened run** ({args.iters} iterations): it checks the pipeline, its '
            'numbers say nothing about the methods. The full table is produced by',
            '> `python tools/benchmark_learning.py` (every bundled config, its own schedule).',
            '']
    elif args.iters:
        lines += [
            f'> Every config ran {args.iters} iterations instead of its own schedule; '
            'learning-rate milestones were scaled alike.', '']
    lines += ['| config | params (M) | head params (M) | train (s) | test (s) | mIoU | '
              'person | bicycle | car | cue classes | Δ mIoU | Δ cue classes |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        name = osp.basename(r['config'])
        if r['config'] == r['baseline']:
            name += ' (baseline)'
        err = f' — {r["error"]}' if r.get('error') else ''
        lines.append(
            f'| {name}{err} | {_f(r.get("params_m"), ".2f")} | {_f(r.get("head_params_m"), ".3f")} | '
            f'{_f(r.get("train_s"), ".0f")} | {_f(r.get("test_s"), ".0f")} | '
            f'{_f(r.get("mIoU"), ".2f")} | {_f(r.get("person_IoU"), ".2f")} | '
            f'{_f(r.get("bicycle_IoU"), ".2f")} | {_f(r.get("car_IoU"), ".2f")} | '
            f'{_f(r.get("cue_classes_mIoU"), ".2f")} | {_f(r.get("d_mIoU"), "+.2f")} | '
            f'{_f(r.get("d_cue_classes_mIoU"), "+.2f")} |')
    lines.append('')
    with open(args.out + '.md', 'w') as f:
        f.write('\n'.join(lines))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--configs', nargs='+', default=None,
                   help=f'configs to run (default: {DEFAULT_GLOB}, baselines first)')
    p.add_argument('--iters', type=int, default=None,
                   help='train every config for N iterations (schedule scaled alike)')
    p.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'benchmark_learning'))
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'benchmarks', 'learning_bundled'),
                   help='output path without extension')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='extra --cfg-options for every train and test run')
    p.add_argument('--reuse', action='store_true',
                   help='skip training where the work dir already has a last checkpoint')
    p.add_argument('--date', default=None, help='date written in the report (default: today)')
    args = p.parse_args(argv)
    if args.iters is not None and args.iters < 1:
        p.error('--iters must be >= 1')
    if args.configs is None:
        configs = sorted(rel(c) for c in glob.glob(osp.join(ROOT, DEFAULT_GLOB)))
        args.configs = sorted(configs, key=lambda c: baseline_of(c) != c)  # baselines first
    else:
        args.configs = [rel(c) for c in args.configs]
    for c in args.configs:
        if not osp.isfile(osp.join(ROOT, c)):
            p.error(f'config not found: {c}')
    args.work_root = osp.abspath(args.work_root)
    return args


def main(argv=None):
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    t0 = time.time()
    rows = []
    for i, config in enumerate(args.configs):
        print(f'[{i + 1}/{len(args.configs)}] {config}', file=sys.stderr, flush=True)
        row = run_config(config, args)
        print(f'  -> {json.dumps(row)}', file=sys.stderr, flush=True)
        rows.append(row)
    add_deltas(rows)
    meta = dict(date=args.date or datetime.date.today().isoformat(),
                device=device_description(), wall_s=time.time() - t0,
                command='python tools/benchmark_learning.py ' + ' '.join(map(shlex.quote, raw)))
    write_report(rows, args, meta)
    with open(args.out + '.md') as f:
        print(f.read())
    return 0 if not any(r.get('error') for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
