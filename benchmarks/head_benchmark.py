"""Whole-image inference of attnplug's attention decode heads against mmseg's (not a test).

The library behind ``tools/benchmark_heads.py``::

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

Identical weights: every case builds mmseg's head from the same seed and overwrites every
parameter and buffer with :func:`attnplug.testing.randomise` (the gammas of PAM/CAM, which
start at 0, the zero-initialised output norm of the non-local block and the BN statistics
included), so that the attention actually contributes to the logits. attnplug's head loads that state dict (strict); mmseg's copy
is freed before measuring. Each implementation's last output is saved and the parent reports the
largest absolute difference from mmseg's (``--save-outputs DIR`` keeps the outputs, named in
the CSV's ``output`` column, so the comparison can be checked from outside).

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
    dict loaded, input created), by :class:`attnplug.analysis.profiling.PeakMemoryProbe`:
    before each call the peak (``VmHWM``) is reset through ``/proc/self/clear_refs``; where
    that is refused, ``ru_maxrss`` is used, which cannot be reset and so also counts any
    transient of the setup (the method is reported). The
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

Outputs: ``<out>.md`` (table, date, device, versions, exact command) and ``<out>.csv`` (the
same header on its first line); ``--out`` defaults to ``docs/benchmarks/heads_<device>``
(``..._quick`` with ``--quick``). On CPU the table's timing columns are CPU time and ratios to
mmseg's in the same run; wall time stays in the CSV.
"""
import contextlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

from . import reporting
from .paths import ROOT

MIB = 2**20
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
def build_heads(case):
    """mmseg's head with seeded random weights, and, for attnplug, its copy."""
    import torch
    head = HEADS[case['head']]
    kwargs = dict(in_channels=case['in_channels'], channels=case['channels'],
                  num_classes=NUM_CLASSES, dropout_ratio=0.1, norm_cfg=dict(type='BN'),
                  align_corners=False, **head['extra'](case['channels']))
    import mmseg.models.decode_heads as mmseg_heads
    from attnplug.testing import randomise
    torch.manual_seed(case['seed'])
    ref = randomise(getattr(mmseg_heads, head['name'])(**kwargs), case['seed'] + 1)
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

    from attnplug.analysis.profiling import timed_calls
    with torch.inference_mode():
        res = timed_calls(call, case['device'], case['warmup'], case['repeats'], keep_last=True)
    out = res['out']
    if case.get('save'):
        torch.save(out.detach().float().cpu(), case['save'])
    return dict(times=[round(t, 4) for t in res['times']],
                cpu_times=[round(t, 4) for t in res['cpu_times']],
                peak_mib=round(res['peak_mib'], 1), mem_method=res['mem_method'],
                threads=res['threads'], out_shape=list(out.shape))


# --------------------------------------------------------------------------- driver (parent)
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
        proc = subprocess.run([sys.executable, '-m', 'benchmarks.head_benchmark',
                               json.dumps(case)],
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
            key = f'{head}-{len(cases)}-{impl}'
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
                   block_size=case['block_size'] if case['block_size'] is not None else '',
                   output=osp.basename(case['save']))
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
              'meets_latency_bar', 'times_s', 'cpu_times_s', 'mem_method', 'threads', 'output',
              'error']


def _fmt(v, spec):
    return '' if v in ('', None) else format(float(v), spec)


def write_report(rows, header, out):
    """``<out>.csv`` (the header on its first line), then ``<out>.md`` rendered from it."""
    reporting.write_csv(out + '.csv', rows, CSV_FIELDS, header)
    reporting.write_text(out + '.md', render_markdown(out + '.csv'))


def render_markdown(csv_path):
    """The report of a run, from its CSV alone. Timings: CPU time of the process on CPU (wall
    time stays in the CSV), and every time and memory also as a ratio to mmseg's, same run."""
    rows, header = reporting.read_csv(csv_path)
    cpu = header.get('device_kind', 'cpu') == 'cpu'
    lines = [f'# Decode heads: attnplug vs mmseg, whole-image inference ({header.get("device_kind", "cpu")})',
             '', '<!-- Written by tools/benchmark_heads.py; rerun it rather than editing. -->',
             '']
    lines += reporting.header_markdown(header)
    t_col, t_ratio = ('cpu_s', 'cpu_ratio') if cpu else ('latency_s', 'latency_ratio')
    t_name = 'CPU time (s)' if cpu else 'latency (s)'
    table = []
    for row in rows:
        if row.get('error'):
            table.append([row['head'], row['setting'], '', '', '', '', '', row['error']])
            continue
        bar = ''
        if row['impl'] != 'mmseg' and row.get('meets_mem_bar'):
            mem, lat = row['meets_mem_bar'] == 'True', row['meets_latency_bar'] == 'True'
            bar = ('yes' if mem and lat else 'memory only' if mem else
                   'latency only' if lat else 'no')
        table.append([row['head'], row['setting'], _fmt(row['peak_mib'], '.0f'),
                      _fmt(row.get('mem_ratio'), '.3f'), _fmt(row.get(t_col), '.2f'),
                      _fmt(row.get(t_ratio), '.2f'), _fmt(row.get('max_abs_diff'), '.1e'), bar])
    lines += [''] + reporting.markdown_table(
        ['head', 'implementation', 'peak mem (MiB)', 'mem vs mmseg', t_name, 'time vs mmseg',
         'max abs diff', 'bar met'], table, 'llrrrrrl')
    summary = []
    for head in dict.fromkeys(r['head'] for r in rows):
        ours = [r for r in rows if r['head'] == head and r['impl'] != 'mmseg']
        if len(ours) < 2:
            continue
        cands = [r for r in ours if r.get('meets_mem_bar') == 'True']
        if cands:
            best = min(cands, key=lambda r: float(r[t_col]))
            summary.append(f'- {head}: fastest setting under the memory bar: {best["setting"]} '
                           f'({float(best[t_col]):.2f} s, {float(best["peak_mib"]):.0f} MiB)')
        else:
            summary.append(f'- {head}: no setting met the memory bar')
    if summary:
        lines += ['', 'Tuning (`memory_budget` sweep):', ''] + summary
    lines += ['', f'Per-call times (wall and CPU) and the memory method are in '
              f'`{osp.basename(csv_path)}`.']
    return lines


def run(args, command):
    """Run every case of ``args`` (the options of ``tools/benchmark_heads.py``), one
    subprocess each, and write the report."""
    started, t_start = reporting.now(), time.time()
    load_start = ' '.join(f'{v:.1f}' for v in os.getloadavg())

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = {}
    keep = args.save_outputs
    if keep:
        os.makedirs(keep, exist_ok=True)
    with (contextlib.nullcontext(keep) if keep else
          tempfile.TemporaryDirectory(prefix='attnplug_heads_')) as tmp:
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
    h, w = args.size
    what = (f'`{args.call}` of the head on a 1×{args.in_channels}×{h}×{w} feature map'
            if args.call != 'attention' else
            f'the attention block alone on a 1×{args.channels}×{h}×{w} feature')
    header = reporting.run_header(
        command, args.device, started,
        device_kind=args.device.split(':')[0],
        load_average_start_end=f'{load_start} / '
                               f'{" ".join(f"{v:.1f}" for v in os.getloadavg())}',
        measured=(f'{what} ({h * OUTPUT_STRIDE}×{w * OUTPUT_STRIDE} image, output stride '
                  f'{OUTPUT_STRIDE}), in_channels {args.in_channels}, channels {args.channels}, '
                  f'{NUM_CLASSES} classes, {args.dtype}, eval mode, torch.inference_mode()'),
        timing=(f'median of {args.repeats} timed call(s) after {args.warmup} warm-up(s)'
                f'{f" per round, {args.rounds} rounds" if args.rounds > 1 else ""}; '
                + ('CPU time of the process (time.process_time, all threads)'
                   if args.device == 'cpu' else 'synchronised wall time')),
        memory=('maximum over all calls of the growth over the post-setup baseline '
                f'({", ".join(methods) or "n/a"})'),
        bar="attnplug <= 1/10 of mmseg's peak memory and no slower (wall time)",
        wall_time_of_the_whole_run=f'{(time.time() - t_start) / 60:.1f} min')
    write_report(rows, header, args.out)
    return rows


def _child():
    """``python -m benchmarks.head_benchmark CASE_JSON``: one case, result on stdout."""
    print(json.dumps(run_case(json.loads(sys.argv[1]))), flush=True)


if __name__ == '__main__':
    _child()
