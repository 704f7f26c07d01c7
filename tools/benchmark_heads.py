"""Whole-image inference of attnplug's attention decode heads against mmseg's (not a test).

    python tools/benchmark_heads.py                         # DA, NL, CC at 1x2048x128x256, CPU
    python tools/benchmark_heads.py --heads da --tune-budgets 32 64 128 512
    python tools/benchmark_heads.py --quick                 # 64x128 features, a few minutes
    python tools/benchmark_heads.py --device cuda --dtype bf16

What is measured: ``head.predict([x], img_metas, test_cfg)`` in eval mode under
``torch.inference_mode()``, i.e. what mmseg's ``EncoderDecoder`` runs for whole-image inference
(``mode='whole'``): the head's logits, bilinearly resized to the image (8 × the feature size, the
output stride of R-50-D8). ``x`` is one (1, 2048, 128, 256) feature map for a 1024×2048 image;
the heads are configured as in mmseg's ``danet_r50-d8`` (channels 512, pam_channels 64),
``nonlocal_r50-d8`` (reduction 2, use_scale, embedded_gaussian) and ``ccnet_r50-d8``
(recurrence 2) configs with 19 classes (BN instead of SyncBN: identical in eval mode).
``--call forward`` times ``head([x])`` instead (for DANet, all three outputs), ``--call
attention`` only the head's attention block (DANet's ``pam``, ``nl_block``, ``cca``) on a random
(1, channels, H, W) feature: the part that differs between the implementations, without the
convolutions that dominate the head's time.

Identical weights: every case builds mmseg's head from the same seed and gives every parameter and
buffer that starts constant a random value (the gammas of PAM/CAM, which start at 0, the
zero-initialised output norm of the non-local block, BN statistics), so that the attention
actually contributes to the logits. attnplug's head loads that state dict (strict); mmseg's copy
is freed before measuring. Each implementation's last output is saved and the parent reports the
largest absolute difference from mmseg's.

Every case runs in its own subprocess, one after another (never two at once), in the order
mmseg, attnplug, attnplug variants, per head; ``--rounds R`` repeats that sequence so that drifting
load on a shared machine hits both implementations alike.

* **latency**: the median of ``--repeats`` timed calls after ``--warmup`` untimed ones (medians
  over all rounds). CUDA timings synchronise before reading the clock. On CPU the report also
  gives the median CPU time of the process per call (``time.process_time()``, all threads): on a
  machine shared with other jobs the wall time follows their load, the CPU time much less so
  (it still grows with contention for caches and memory bandwidth).
* **peak memory** (maximum over all calls of a case, warm-up included):
  - CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``, minus the
    allocation before the call (parameters and the input are not counted);
  - CPU: growth of the peak resident set over the resident set after setup (module built, state
    dict loaded, input created, ``gc.collect()`` and ``malloc_trim(0)``). Before each call the
    peak (``VmHWM`` of ``/proc/self/status``) is reset by writing ``5`` to
    ``/proc/self/clear_refs`` (Linux ≥ 4.0); where that is refused, ``ru_maxrss`` is used, which
    cannot be reset and so also counts any transient of the setup (the method is reported). The
    subprocess runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc serves every tensor over
    64 KiB with its own ``mmap`` and unmaps it on free: the resident set then follows the live
    tensors, and memory freed during setup is not silently reused by the call. Limits: RSS counts
    touched pages only (an allocation never written is not seen), it includes allocator and
    oneDNN scratch memory (which is real memory the call needs), and the kernel updates the
    peak at page-fault granularity, so numbers are good to a few MiB, not to the byte. The
    output of the call is live at its end and is counted.

Bar (from the "Measured, not timed" issue): attnplug's peak ≤ 1/10 of mmseg's and latency ≤
mmseg's. ``--tune-budgets`` adds attnplug variants of DA/NL with other ``memory_budget`` values
(MiB); the report names the fastest setting that meets the memory bar.

Outputs: ``<out>.md`` (table, date, device, torch version, exact command) and ``<out>.csv``;
``--out`` defaults to ``docs/benchmarks/heads_<device>`` (``..._quick`` with ``--quick``).
"""
import argparse
import contextlib
import csv
import ctypes
import datetime
import gc
import json
import os
import os.path as osp
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 2**20
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOCK_PATH = osp.join(tempfile.gettempdir(), 'attnplug_benchmark_heads.lock')

#: Head-specific arguments (mmseg's r50-d8 configs); ``pam_channels`` follows channels / 8.
HEADS = {
    'da': dict(name='DAHead', budget=True, attention='pam',
               extra=lambda ch: dict(pam_channels=max(ch // 8, 1))),
    'nl': dict(name='NLHead', budget=True, attention='nl_block',
               extra=lambda ch: dict(reduction=2, use_scale=True, mode='embedded_gaussian')),
    'cc': dict(name='CCHead', budget=False, attention='cca', extra=lambda ch: dict(recurrence=2)),
}
NUM_CLASSES = 19
OUTPUT_STRIDE = 8


# --------------------------------------------------------------------------- one case (child)
def _status_mib(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak_rss():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _malloc_trim():
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)


def _randomise(module, seed):
    """Random values for what starts constant (gammas at 0, zero-initialised norms, BN statistics),
    so that every branch contributes; the (random) conv weights keep their default init."""
    import torch
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.dtype.is_floating_point:
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 + 0.8)
            elif t.numel() and bool((t == t.flatten()[0]).all()):  # gammas, norms, BN means
                if name.endswith(('weight', 'scale')):
                    t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.5)
                else:
                    t.copy_(torch.rand(t.shape, generator=gen) * 0.2 - 0.1)
    return module


def build_heads(case):
    """mmseg's head with seeded random weights, and, for attnplug, its copy."""
    import torch
    head = HEADS[case['head']]
    kwargs = dict(in_channels=case['in_channels'], channels=case['channels'],
                  num_classes=NUM_CLASSES, dropout_ratio=0.1, norm_cfg=dict(type='BN'),
                  align_corners=False, **head['extra'](case['channels']))
    import mmseg.models.decode_heads as mmseg_heads
    torch.manual_seed(case['seed'])
    ref = _randomise(getattr(mmseg_heads, head['name'])(**kwargs), case['seed'])
    if case['impl'] == 'mmseg':
        return ref
    import attnplug.models.decode_heads as ours_heads
    if head['budget']:
        if case.get('budget_mib') is not None:
            kwargs['memory_budget'] = int(case['budget_mib'] * MIB)
        if case.get('block_size') is not None:
            kwargs['block_size'] = case['block_size']
    ours = getattr(ours_heads, head['name'])(**kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours


def run_case(case):
    import torch
    device, dtype = torch.device(case['device']), dict(
        fp32=torch.float32, bf16=torch.bfloat16)[case['dtype']]
    cuda = device.type == 'cuda'
    head = build_heads(case).eval().to(device=device, dtype=dtype)
    h, w = case['size']
    gen = torch.Generator().manual_seed(case['seed'])
    channels = case['in_channels']
    if case['call'] == 'attention':  # the attention block alone, on the feature it gets
        case['recurrence'] = getattr(head, 'recurrence', 1)
        head = getattr(head, HEADS[case['head']]['attention'])
        channels = case['channels']
    x = torch.randn(1, channels, h, w, generator=gen).to(device=device, dtype=dtype)
    metas = [dict(img_shape=(h * OUTPUT_STRIDE, w * OUTPUT_STRIDE))]

    # mmseg's CCHead loops mmcv's one-pass CrissCrossAttention ``recurrence`` times around the
    # block; attnplug's ``cca`` runs the passes itself.
    passes = case['recurrence'] if case['call'] == 'attention' and case['head'] == 'cc' \
        and case['impl'] == 'mmseg' else 1

    def call():
        if case['call'] == 'attention':
            out = x
            for _ in range(passes):
                out = head(out)
            return out
        if case['call'] == 'predict':
            return head.predict([x], metas, test_cfg={})
        out = head([x])
        return out[0] if isinstance(out, (tuple, list)) else out

    gc.collect()
    _malloc_trim()
    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        method = 'cuda max_memory_allocated'
    else:
        base = _status_mib('VmRSS')
        method = 'VmHWM reset' if _reset_peak_rss() else 'ru_maxrss (not resettable)'
    times, cpu_times, peaks, out = [], [], [], None
    with torch.inference_mode():
        for i in range(case['warmup'] + case['repeats']):
            out = None
            gc.collect()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            elif method == 'VmHWM reset':
                _reset_peak_rss()
            t0, c0 = time.perf_counter(), time.process_time()
            out = call()
            if cuda:
                torch.cuda.synchronize()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            if cuda:
                peaks.append((torch.cuda.max_memory_allocated() - base) / MIB)
            elif method == 'VmHWM reset':
                peaks.append(_status_mib('VmHWM') - base)
            else:
                peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base)
            if i >= case['warmup']:
                times.append(dt)
                cpu_times.append(cpu)
    if case.get('save'):
        torch.save(out.detach().float().cpu(), case['save'])
    return dict(times=[round(t, 4) for t in times],
                cpu_times=[round(t, 4) for t in cpu_times], peak_mib=round(max(peaks), 1),
                mem_method=method, threads=torch.get_num_threads(),
                out_shape=list(out.shape))


# --------------------------------------------------------------------------- driver (parent)
def device_description(device):
    import torch
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(0)
        return (f'{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, '
                f'torch {torch.__version__}')
    model = platform.processor() or 'unknown CPU'
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return (f'{model}, {cores} cores available ({os.cpu_count()} online), '
            f'{torch.get_num_threads()} torch threads, torch {torch.__version__}')


def mem_available_gib():
    with contextlib.suppress(OSError, ValueError):
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) / 2**20
    return float('inf')


def dense_estimate_gib(case):
    """What a case may need on the host: mmseg's DA/NL build an N×N score matrix and its
    softmax (fp32 or the dtype), plus the features."""
    n = case['size'][0] * case['size'][1]
    feat = case['in_channels'] * n * 4 * 4 / 2**30
    if case['impl'] == 'mmseg' and case['head'] in ('da', 'nl'):
        return 2 * n * n * (2 if case['dtype'] == 'bf16' else 4) / 2**30 + feat
    return feat + 1.0


def launch(case, args, log):
    """Run one case in a fresh interpreter; hold an exclusive lock for big host-memory cases."""
    need = dense_estimate_gib(case)
    big = case['device'] == 'cpu' and need > 2
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    lock = open(LOCK_PATH, 'w') if big else None
    try:
        if lock is not None:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)  # no two big cases of this tool at once
            deadline = time.time() + args.mem_wait
            while mem_available_gib() < need * 1.15 + 1 and time.time() < deadline:
                log(f'  waiting: {mem_available_gib():.1f} GiB available, '
                    f'{need * 1.15 + 1:.1f} GiB wanted')
                time.sleep(15)
            if mem_available_gib() < need * 1.15 + 1:
                return dict(error=f'skipped: {mem_available_gib():.1f} GiB available, '
                            f'about {need:.1f} GiB needed')
        proc = subprocess.run([sys.executable, osp.abspath(__file__), '--case', json.dumps(case)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
    finally:
        if lock is not None:
            lock.close()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        return dict(error=(proc.stderr.strip().splitlines() or ['?'])[-1][:300])
    return json.loads(lines[-1])


def variant_label(impl, budget_mib, block_size, default_budget_mib, has_budget):
    if impl == 'mmseg':
        return 'mmseg'
    if not has_budget:
        return 'attnplug'
    if block_size is not None:
        return f'attnplug block_size={block_size}'
    if budget_mib is None:
        return f'attnplug (default, {default_budget_mib:g} MiB)'
    return f'attnplug budget={budget_mib:g} MiB'


def build_cases(args, tmp):
    from attnplug.functional.bounded_attention import DEFAULT_MEMORY_BUDGET
    common = dict(size=list(args.size), in_channels=args.in_channels, channels=args.channels,
                  device=args.device, dtype=args.dtype, call=args.call, seed=args.seed,
                  warmup=args.warmup, repeats=args.repeats)
    cases = []
    for head in args.heads:
        variants = [('mmseg', None, None), ('attnplug', None, args.block_size)]
        has_budget = HEADS[head]['budget']
        if has_budget and head in args.tune_heads:
            variants += [('attnplug', b, None) for b in args.tune_budgets]
        for impl, budget, block in variants:
            label = variant_label(impl, budget, block if has_budget else None,
                                  DEFAULT_MEMORY_BUDGET / MIB, has_budget)
            key = f'{head}-{len(cases)}'
            cases.append(dict(common, head=head, impl=impl, budget_mib=budget, block_size=block,
                              label=label, save=osp.join(tmp, key + '.pt')))
    return cases


def summarise(cases, results):
    import torch
    rows = []
    for case in cases:
        res = results[case['label'], case['head']]
        row = dict(head=HEADS[case['head']]['name'], impl=case['impl'], setting=case['label'],
                   budget_mib=case['budget_mib'] if case['budget_mib'] is not None else '',
                   block_size=case['block_size'] if case['block_size'] is not None else '')
        if res.get('error'):
            row.update(error=res['error'])
            rows.append(row)
            continue
        times = res['times']
        row.update(peak_mib=max(res['peaks']), latency_s=statistics.median(times),
                   times_s=' '.join(f'{t:.3f}' for t in times), mem_method=res['mem_method'],
                   threads=res['threads'])
        if res['cpu_times']:
            row.update(cpu_s=statistics.median(res['cpu_times']),
                       cpu_times_s=' '.join(f'{t:.3f}' for t in res['cpu_times']))
        rows.append(row)
    by_head = {}
    for case, row in zip(cases, rows):
        by_head.setdefault(case['head'], []).append((case, row))
    for head, pairs in by_head.items():
        ref_case, ref = pairs[0]
        ref_out = None
        if 'error' not in ref and osp.isfile(ref_case['save']):
            ref_out = torch.load(ref_case['save'], weights_only=True)
        for case, row in pairs:
            if 'error' in row or 'error' in ref:
                continue
            row['mem_ratio'] = row['peak_mib'] / ref['peak_mib'] if ref['peak_mib'] > 0 else ''
            row['latency_ratio'] = row['latency_s'] / ref['latency_s']
            if row.get('cpu_s') and ref.get('cpu_s'):
                row['cpu_ratio'] = row['cpu_s'] / ref['cpu_s']
            if ref_out is not None and osp.isfile(case['save']):
                out = torch.load(case['save'], weights_only=True)
                row['max_abs_diff'] = float((out - ref_out).abs().max())
            if case['impl'] != 'mmseg':
                row['meets_mem_bar'] = row['peak_mib'] <= ref['peak_mib'] / 10
                row['meets_latency_bar'] = row['latency_s'] <= ref['latency_s']
    return rows


CSV_FIELDS = ['head', 'impl', 'setting', 'budget_mib', 'block_size', 'peak_mib', 'mem_ratio',
              'latency_s', 'latency_ratio', 'cpu_s', 'cpu_ratio', 'max_abs_diff', 'meets_mem_bar',
              'meets_latency_bar', 'times_s', 'cpu_times_s', 'mem_method', 'threads', 'error']


def _fmt(v, spec):
    return '' if v in ('', None) else format(v, spec)


def write_report(rows, args, meta, out):
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction='ignore')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, '') for k in CSV_FIELDS})
    h, w = args.size
    what = (f'`{args.call}` of the head on a 1×{args.in_channels}×{h}×{w} feature map'
            if args.call != 'attention' else
            f'the attention block alone on a 1×{args.channels}×{h}×{w} feature')
    lines = [
        f'# Decode heads: attnplug vs mmseg, whole-image inference ({args.device})', '',
        f'- date: {meta["date"]}',
        f'- device: {meta["device"]}',
        f'- load average at start / end: {meta["load_start"]} / {meta["load_end"]}',
        f'- measured: {what} ({h * OUTPUT_STRIDE}×{w * OUTPUT_STRIDE} image, output stride '
        f'{OUTPUT_STRIDE}), in_channels {args.in_channels}, channels {args.channels}, '
        f'{NUM_CLASSES} classes, {args.dtype}, eval mode, `torch.inference_mode()`',
        f'- latency: median of {args.repeats} timed call(s) after {args.warmup} warm-up(s)'
        f'{f" per round, {args.rounds} rounds" if args.rounds > 1 else ""}; peak memory: '
        'maximum over all calls of the growth over the post-setup baseline '
        f'({meta["mem_method"]}; see `tools/benchmark_heads.py`)',
        '- bar: attnplug ≤ 1/10 of mmseg\'s peak memory and no slower',
        f'- wall time of the whole run: {meta["wall_s"] / 60:.1f} min',
        '', 'Command:', '', '```shell', meta['command'], '```', '',
        '| head | implementation | peak mem (MiB) | mem vs mmseg | latency (s) | '
        'latency vs mmseg | CPU time (s) | CPU vs mmseg | max abs diff | bar met |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---|']
    for row in rows:
        if row.get('error'):
            lines.append(f'| {row["head"]} | {row["setting"]} | | | | | | | | '
                         f'{row["error"]} |')
            continue
        bar = ''
        if row['impl'] != 'mmseg' and 'meets_mem_bar' in row:
            bar = ('yes' if row['meets_mem_bar'] and row['meets_latency_bar'] else
                   'memory only' if row['meets_mem_bar'] else
                   'latency only' if row['meets_latency_bar'] else 'no')
        lines.append(
            f'| {row["head"]} | {row["setting"]} | {row["peak_mib"]:.0f} | '
            f'{_fmt(row.get("mem_ratio"), ".3f")} | {row["latency_s"]:.2f} | '
            f'{_fmt(row.get("latency_ratio"), ".2f")} | {_fmt(row.get("cpu_s"), ".2f")} | '
            f'{_fmt(row.get("cpu_ratio"), ".2f")} | {_fmt(row.get("max_abs_diff"), ".1e")} | '
            f'{bar} |')
    tuned = [r for r in rows if r['impl'] != 'mmseg' and r.get('meets_mem_bar')]
    heads = []
    for r in rows:
        if r['head'] not in heads:
            heads.append(r['head'])
    summary = []
    for head in heads:
        cands = [r for r in tuned if r['head'] == head]
        if len([r for r in rows if r['head'] == head and r['impl'] != 'mmseg']) < 2:
            continue
        if cands:
            best = min(cands, key=lambda r: r['latency_s'])
            summary.append(f'- {head}: fastest setting under the memory bar: {best["setting"]} '
                           f'({best["latency_s"]:.2f} s, {best["peak_mib"]:.0f} MiB)')
        else:
            summary.append(f'- {head}: no setting met the memory bar')
    if summary:
        lines += ['', 'Tuning (`memory_budget` sweep):', ''] + summary
    lines += ['', f'Per-call times and the memory method are in `{osp.basename(out)}.csv`.', '']
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--heads', nargs='+', choices=sorted(HEADS), default=['da', 'nl', 'cc'])
    p.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'), default=None,
                   help='feature map size (default 128 256; 64 128 with --quick)')
    p.add_argument('--quick', action='store_true', help='64x128 features (unless --size)')
    p.add_argument('--in-channels', type=int, default=2048)
    p.add_argument('--channels', type=int, default=512)
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32')
    p.add_argument('--call', choices=['predict', 'forward', 'attention'], default='predict')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--rounds', type=int, default=1,
                   help='run the whole case sequence this many times, interleaved')
    p.add_argument('--tune-budgets', nargs='*', type=float, default=[], metavar='MIB',
                   help='extra attnplug DA/NL variants with these memory_budget values (MiB)')
    p.add_argument('--tune-heads', nargs='+', choices=['da', 'nl'], default=['da', 'nl'],
                   help='heads that get the --tune-budgets variants')
    p.add_argument('--block-size', type=int, default=None,
                   help='block_size of the main attnplug DA/NL case (default: the head default)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--mem-wait', type=float, default=600,
                   help='seconds to wait for free host memory before skipping a big case')
    p.add_argument('--out', default=None,
                   help='output path without extension (default docs/benchmarks/heads_<device>)')
    p.add_argument('--date', default=None, help='date written in the report (default: today)')
    p.add_argument('--case', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.size is None:
        args.size = [64, 128] if args.quick else [128, 256]
    if args.out is None:
        tag = args.device.split(':')[0] + ('_quick' if args.quick else '')
        args.out = osp.join(ROOT, 'docs', 'benchmarks', f'heads_{tag}')
    return args


def main(argv=None):
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))), flush=True)
        return
    t_start = time.time()
    load_start = ' '.join(f'{v:.1f}' for v in os.getloadavg())

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix='attnplug_heads_') as tmp:
        cases = build_cases(args, tmp)
        for rnd in range(args.rounds):
            for case in cases:
                key = case['label'], case['head']
                log(f'[round {rnd + 1}/{args.rounds}] {HEADS[case["head"]]["name"]} '
                    f'{case["label"]} ...')
                res = launch(case, args, log)
                log(f'  -> {res}')
                acc = results.setdefault(key, dict(times=[], cpu_times=[], peaks=[]))
                if res.get('error'):
                    acc['error'] = res['error']
                    continue
                acc['times'] += res['times']
                acc['cpu_times'] += res.get('cpu_times', [])
                acc['peaks'].append(res['peak_mib'])
                acc['mem_method'], acc['threads'] = res['mem_method'], res['threads']
        rows = summarise(cases, results)
    methods = sorted({r['mem_method'] for r in results.values() if 'mem_method' in r})
    meta = dict(date=args.date or datetime.date.today().isoformat(),
                device=device_description(args.device),
                load_start=load_start,
                load_end=' '.join(f'{v:.1f}' for v in os.getloadavg()),
                mem_method=', '.join(methods) or 'n/a', wall_s=time.time() - t_start,
                command='python tools/benchmark_heads.py ' + ' '.join(map(shlex.quote, raw)))
    write_report(rows, args, meta, args.out)
    with open(args.out + '.md') as f:
        print(f.read())


if __name__ == '__main__':
    main()
