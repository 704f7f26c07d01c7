"""Time attnplug's attention against OpenMMLab's on this machine (not a test).

On the CPU every case runs in a fresh subprocess (one at a time); its peak memory is the
growth of the peak resident set (glibc told to ``mmap`` every block over 64 KiB so that freed
tensors leave it). On CUDA the cases run one after the other in one process and the peak is
the growth of ``torch.cuda.max_memory_allocated`` over the state just before the calls
(:class:`attnplug.analysis.profiling.PeakMemoryProbe`); ``--fresh-process`` gives each its own
process there too. Next to the timings, attnplug's rows record the backend that
``backend='auto'`` took and how far the output (and input gradient) is from the reference
module's computed in fp32.

    python tools/benchmark_attention.py --compare                 # PAM, NL, heads vs mmseg/mmcv
    python tools/benchmark_attention.py --compare --quick         # smaller sizes, minutes
    python tools/benchmark_attention.py --compare --device cuda --dtype bf16
    python tools/benchmark_attention.py                           # the backends' kernel table
    python tools/benchmark_attention.py --grad                    # the same, forward + backward
    python tools/benchmark_attention.py --grad --device cuda --dtype bf16   # on a GPU
    python tools/benchmark_attention.py --tiles                   # 'blocked' tile shapes

``--tiles`` times the forward of ``'blocked'`` (no grad) on DANet PAM's own queries, keys and
values (the seeded module of ``pam-infer`` on its input, ``--pam-infer-size``) for several
(query rows, keys) tiles, one process, the shapes interleaved over ``--rounds``, and writes
``docs/benchmarks/attention_tiles_<device>.{csv,md}``: the measurements behind
:data:`attnplug.functional.bounded_attention.BLOCKED_KEY_TILE`.

``--compare`` runs these suites (``--suites`` picks some), each implementation side by side
in one run, in rounds (``--rounds``) so that a drifting load on a shared machine reaches all of
them alike:

* ``gemm``: the dense GEMM throughput of the device (4096³, fp32; on CUDA also the
  ``--dtype``), the roofline that the inference suites are measured against;
* ``pam-train``: DANet's position attention forward + backward, B=2, C=512, 64×128
  (``--quick``: 32×64): mmseg's ``PAM`` against attnplug's ``PositionAttention`` with the
  same weights (α non-zero);
* ``pam-infer``: the same modules' forward at 1×512×128×256 (``--quick``: 64×128), with
  the roofline efficiency ``2·N²·(dk + dv)`` GEMM FLOPs over the measured GEMM rate;
* ``nl-train`` / ``nl-infer``: mmcv's ``NonLocal2d`` against attnplug's (C=512, reduction 2,
  embedded Gaussian with ``use_scale``), B=2, ``--nl-size`` (default 32×48: mmcv's bf16
  GEMMs are emulated on CPUs without native bf16);
* ``heads-train`` / ``heads-infer``: one training step (forward, loss, backward) of mmseg's
  ``DAHead`` and ``NLHead`` (R-50-D8 settings: 2048 in, 512 channels, 19 classes) on B=2
  features of a ``--crop`` image (default 512×1024, i.e. 64×128 features), mmseg's and
  attnplug's, and
  mmseg's with the attention block replaced by an identity (``stub``): the attention's
  share of the peak is the head's peak minus the stub's. ``heads-infer``: the heads'
  ``forward`` under ``torch.inference_mode()`` (eval mode).

``--dtype bf16|fp16`` runs every module in fp32 under ``torch.autocast`` (mixed precision).
Outputs: ``<out>.csv`` (header with date, device, versions, command and load on its first
line) and ``<out>.md`` rendered from it; ``--out`` defaults to
``docs/benchmarks/attention_<device>[_<dtype>][_quick]``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

MIB = 2**20
NUM_CLASSES = 19


def _reporting():
    """The report helpers (moving from attnplug.analysis to the top-level benchmarks/)."""
    try:
        from benchmarks import reporting
    except ImportError:
        from attnplug.analysis import reporting
    return reporting


# ---------------------------------------------------------------- kernel table (one case)
def run_kernel_case(n, dk, dv, method, grad=False, ckpt=True, budget=256 * MIB, repeat=3,
                    device='cpu', dtype='fp32'):
    import torch
    import torch.nn.functional as F

    from attnplug.analysis.profiling import PeakMemoryProbe
    from attnplug.functional.bounded_attention import attention
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, n, d).to(device, _dtype(dtype)) for d in (dk, dk, dv))
    if grad:
        for t in (q, k, v):
            t.requires_grad_()
    scale = dk**-0.5

    def call():
        if method == 'naive':
            return torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v
        if method == 'sdpa':
            return F.scaled_dot_product_attention(q, k, v)
        if method == 'sdpa-split':  # v split into dv/dk heads of dk, q and k shared
            h = dv // dk
            o = F.scaled_dot_product_attention(q.expand(1, h, n, dk), k.expand(1, h, n, dk),
                                               v.reshape(1, n, h, dk).transpose(1, 2))
            return o.transpose(1, 2).reshape(1, 1, n, dv)
        if method in ('chunked', 'chunked_sdpa', 'blocked'):
            return attention(q, k, v, backend=method, memory_budget=budget,
                             checkpoint_blocks=ckpt)
        if method == 'auto':
            return attention(q, k, v, memory_budget=budget, checkpoint_blocks=ckpt)
        raise ValueError(method)

    probe = PeakMemoryProbe(device)
    times, peaks = [], []
    for _ in range(repeat + (device != 'cpu')):  # one warm-up on a GPU
        probe.begin()
        t0 = time.perf_counter()
        if grad:
            call().float().square().sum().backward()
        else:
            with torch.no_grad():
                call()
        if device != 'cpu':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        peaks.append(probe.end())
    return dict(n=n, dv=dv, method=method, grad=grad, ckpt=ckpt, budget_mib=budget // MIB,
                device=device, dtype=dtype, seconds=float(f'{min(times):.4g}'),
                peak_mib=round(max(peaks)), mem_method=probe.method)


# ---------------------------------------------------------------- comparison (one case)
def _dtype(name):
    import torch
    return dict(fp32=torch.float32, bf16=torch.bfloat16, fp16=torch.float16)[name]


def build_module(case):
    """The module of one comparison case, on the case's device, with seeded weights shared
    by the implementations (attnplug's loads the reference's state dict, strict)."""
    import torch

    from attnplug.testing import randomise
    suite, impl, c = case['suite'], case['impl'], case['channels']
    torch.manual_seed(case['seed'])
    if suite.startswith('pam'):
        from mmseg.models.decode_heads.da_head import PAM
        ref = randomise(PAM(c, c // 8), case['seed'] + 1)
        if impl == 'mmseg':
            return ref
        from attnplug.layers import PositionAttention
        ours = PositionAttention(c, c // 8)
    elif suite.startswith('nl'):
        from mmcv.cnn import NonLocal2d as MMCVNonLocal2d
        kw = dict(reduction=2, use_scale=True, mode='embedded_gaussian')
        ref = randomise(MMCVNonLocal2d(c, **kw), case['seed'] + 1)
        if impl == 'mmcv':
            return ref
        from attnplug.layers import NonLocal2d
        ours = NonLocal2d(c, **kw)
    else:  # heads
        import mmseg.models.decode_heads as mmseg_heads
        name, extra = dict(
            da=('DAHead', dict(pam_channels=64)),
            nl=('NLHead', dict(reduction=2, use_scale=True, mode='embedded_gaussian')))[
                case['head']]
        kwargs = dict(in_channels=2048, channels=512, num_classes=NUM_CLASSES,
                      dropout_ratio=0.1, norm_cfg=dict(type='BN'), align_corners=False,
                      **extra)
        ref = randomise(getattr(mmseg_heads, name)(**kwargs), case['seed'] + 1)
        if impl in ('mmseg', 'stub'):
            if impl == 'stub':  # the attention block replaced by an identity
                setattr(ref, 'pam' if case['head'] == 'da' else 'nl_block', _Identity())
            return ref
        import attnplug.models.decode_heads as ours_heads
        ours = getattr(ours_heads, name)(**kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours


class _Identity:  # a torch module built lazily (torch is imported in the child only)

    def __new__(cls):
        import torch.nn as nn
        return nn.Identity()


def run_compare_case(case):
    import torch
    device = torch.device(case['device'])
    if case['suite'] == 'gemm':
        return _gemm_case(case)
    module = build_module(case).to(device)
    train = case['suite'].endswith('train')
    module.train(train)
    heads = case['suite'].startswith('heads')
    b, c, (h, w) = case['batch'], case['in_channels'], case['size']
    gen = torch.Generator().manual_seed(case['seed'])
    x = torch.randn(b, c, h, w, generator=gen).to(device)
    target = torch.randint(0, NUM_CLASSES, (b, h, w), generator=gen).to(device)
    amp = case['dtype'] != 'fp32'

    def step():
        ctx = torch.autocast(device.type, dtype=_dtype(case['dtype'])) if amp else _null()
        if not train:
            with torch.inference_mode(), ctx:
                return module([x] if heads else x)
        xi = x.detach().requires_grad_(not heads)
        with ctx:
            out = module([xi] if heads else xi)
            if heads:  # DAHead: (pam_cam, pam, cam) logits
                outs = out if isinstance(out, (tuple, list)) else [out]
                loss = sum(torch.nn.functional.cross_entropy(o.float(), target) for o in outs)
            else:
                loss = out.float().square().mean()
        loss.backward()
        module.zero_grad(set_to_none=True)
        return loss.detach()

    backends, restore = _spy_backends() if case['impl'] == 'attnplug' else (set(), None)
    try:
        return _timed(case, module, x, step, train, heads, amp, backends)
    finally:
        if restore:
            restore()


def _timed(case, module, x, step, train, heads, amp, backends):
    from attnplug.analysis.profiling import timed_calls
    res = timed_calls(step, case['device'], case['warmup'], case['repeats'])
    res['backends'] = sorted(backends)
    if case['impl'] == 'attnplug' and not heads:  # after the timing: the reference beside it
        res.update(_parity(case, module, x, train, amp))
    return res


def _spy_backends():
    """The set that collects every backend ``attention(..., backend='auto')`` picks, and the
    function that puts the rule back."""
    from attnplug.functional import bounded_attention as ba
    seen, pick = set(), ba.select_backend

    def spy(*args, **kwargs):
        name = pick(*args, **kwargs)
        seen.add(name)
        return name

    def restore():
        ba.select_backend = pick
    ba.select_backend = spy
    return seen, restore


def _parity(case, ours, x, train, amp):
    """attnplug's output (and input gradient, training) against the reference module's
    computed in fp32 on the same input and weights, as max |difference| / max |reference|;
    under autocast also the reference's own autocast run against its fp32 run (``ref_*``), the
    rounding that mixed precision costs the reference itself."""
    import torch
    family = case['suite'].split('-')[0]
    ref = build_module(dict(case, impl=REFERENCE[family])).to(x.device).train(train)

    def run(m, autocast):
        xi = x.detach().clone().requires_grad_(train)
        ctx = torch.autocast(x.device.type, dtype=_dtype(case['dtype'])) if autocast else _null()
        with (torch.enable_grad() if train else torch.inference_mode()), ctx:
            y = m(xi)
        if train:
            y.float().square().mean().backward()
        return y.detach().float(), xi.grad.float() if train else None

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
    exact = run(ref, False)
    res = {}
    for prefix, m in (('', ours), ('ref_', ref)) if amp else (('', ours), ):
        got = run(m, amp)
        res[prefix + 'parity_out'] = rel(got[0], exact[0])
        if train:
            res[prefix + 'parity_grad'] = rel(got[1], exact[1])
    return res


class _null:

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _gemm_case(case):
    """Dense GEMM throughput (GFLOP/s) at 4096³ in ``case['gemm_dtype']``."""
    import torch
    device = torch.device(case['device'])
    n = case['gemm_n']
    a = torch.randn(n, n, device=device, dtype=_dtype(case['gemm_dtype']))
    b = torch.randn(n, n, device=device, dtype=_dtype(case['gemm_dtype']))
    times = []
    for i in range(case['warmup'] + case['repeats']):
        t0 = time.perf_counter()
        a @ b
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if i >= case['warmup']:
            times.append(time.perf_counter() - t0)
    return dict(times=times, cpu_times=[], gflops=2 * n**3 / min(times) / 1e9, peak_mib=0,
                mem_method='', threads=torch.get_num_threads())


# ---------------------------------------------------------------- driver (parent)
SUITES = ('gemm', 'pam-train', 'pam-infer', 'nl-train', 'nl-infer', 'heads-train',
          'heads-infer')
REFERENCE = {'pam': 'mmseg', 'nl': 'mmcv', 'heads': 'mmseg'}


def _attention_gflop(case):
    """GEMM work of the attention itself (FLOP / 1e9): ``2·B·N²·(dk + dv)``."""
    n = case['size'][0] * case['size'][1]
    c = case['channels']
    dk, dv = (c // 8, c) if case['suite'].startswith('pam') else (c // 2, c // 2)
    return 2 * case['batch'] * n * n * (dk + dv) / 1e9


def build_cases(args):
    quick = args.quick
    common = dict(device=args.device, dtype=args.dtype, seed=args.seed, warmup=args.warmup,
                  repeats=args.repeats)
    cases = []
    for suite in args.suites:
        if suite == 'gemm':
            dtypes = ['fp32'] + ([args.dtype] if args.device.startswith('cuda')
                                 and args.dtype != 'fp32' else [])
            for dt in dtypes:
                cases.append(dict(common, suite='gemm', impl=f'gemm {dt}', gemm_dtype=dt,
                                  gemm_n=2048 if quick else 4096, warmup=1, repeats=3))
            continue
        family = suite.split('-')[0]
        ref = REFERENCE[family]
        if family == 'pam':
            size = (32, 64) if quick and suite == 'pam-train' else (
                (64, 128) if (quick or suite == 'pam-train') else (128, 256))
            if suite == 'pam-infer' and args.pam_infer_size:
                size = tuple(args.pam_infer_size)
            batch = 2 if suite == 'pam-train' else 1
            for impl in (ref, 'attnplug'):
                cases.append(dict(common, suite=suite, impl=impl, size=list(size), batch=batch,
                                  in_channels=512, channels=512))
        elif family == 'nl':
            size = (24, 32) if quick else tuple(args.nl_size)
            for impl in (ref, 'attnplug'):
                cases.append(dict(common, suite=suite, impl=impl, size=list(size), batch=2,
                                  in_channels=512, channels=512))
        else:  # heads-train / heads-infer
            crop = (256, 512) if quick else tuple(args.crop)
            size = [crop[0] // 8, crop[1] // 8]
            for head in args.heads:
                for impl in (ref, 'attnplug', 'stub'):
                    cases.append(dict(common, suite=suite, impl=impl, head=head, size=size,
                                      batch=2, in_channels=2048, channels=512))
    return cases


def launch(case):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, osp.abspath(__file__), '--compare-case',
                           json.dumps(case)], capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        return dict(error=(proc.stderr.strip().splitlines() or ['?'])[-1][:300])
    return json.loads(lines[-1])


#: What a report's peak column is (its header's ``memory`` line).
MEMORY_NOTE = 'peak growth over the state after setup (max over calls)'
PARITY_FIELDS = ('parity_out', 'parity_grad', 'ref_parity_out', 'ref_parity_grad')


def run_in_process(case):
    """One case in this process (CUDA: ``max_memory_allocated`` is reset per call, and the
    previous case's tensors are freed and the cache emptied first, so the peaks are the
    case's own)."""
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        return run_compare_case(dict(case))
    except Exception as e:  # noqa: BLE001 -- a failed case is a row of the report
        return dict(error=f'{type(e).__name__}: {e}'[:300])


def _key(case):
    return case['suite'], case.get('head', ''), case['impl']


def summarise(cases, results):
    rows = []
    for case in cases:
        res = results[_key(case)]
        row = dict(suite=case['suite'], head=case.get('head', ''), impl=case['impl'],
                   size='x'.join(map(str, case.get('size', []))), batch=case.get('batch', ''),
                   dtype=case.get('gemm_dtype', case['dtype']))
        if res.get('error'):
            row['error'] = res['error']
            rows.append(row)
            continue
        row.update(wall_s=statistics.median(res['times']),
                   times_s=' '.join(f'{t:.3f}' for t in res['times']),
                   peak_mib=max(res['peaks']), mem_method=res.get('mem_method', ''),
                   threads=res.get('threads', ''))
        if res['cpu_times']:
            row['cpu_s'] = statistics.median(res['cpu_times'])
        if case['suite'] == 'gemm':
            row['gflops'] = max(res['gflops'])
        for field in PARITY_FIELDS:
            if res.get(field) is not None:
                row[field] = res[field]
        if res.get('backends'):
            row['backend'] = ' '.join(res['backends'])
        rows.append(row)
    gemm = {r['dtype']: r.get('gflops') for r in rows if r['suite'] == 'gemm'}
    for row, case in zip(rows, cases):
        if case['suite'] == 'gemm' or row.get('error'):
            continue
        family = case['suite'].split('-')[0]
        ref = next((r for r in rows if r['suite'] == row['suite'] and r['head'] == row['head']
                    and r['impl'] == REFERENCE[family] and not r.get('error')), None)
        stub = next((r for r in rows if r['suite'] == row['suite'] and r['head'] == row['head']
                     and r['impl'] == 'stub' and not r.get('error')), None)
        if ref is not None and row['impl'] == 'attnplug':
            row['speed_vs_ref'] = ref['wall_s'] / row['wall_s']
            if row.get('cpu_s') and ref.get('cpu_s'):
                row['cpu_speed_vs_ref'] = ref['cpu_s'] / row['cpu_s']
            if ref['peak_mib'] > 0:
                row['mem_vs_ref'] = row['peak_mib'] / ref['peak_mib']
        if stub is not None and row['impl'] != 'stub':
            row['attention_mib'] = row['peak_mib'] - stub['peak_mib']
            if ref is not None and row['impl'] == 'attnplug':
                share_ref = ref['peak_mib'] - stub['peak_mib']
                if share_ref > 0:
                    row['attention_mem_vs_ref'] = row['attention_mib'] / share_ref
        if case['suite'] == 'pam-infer' or case['suite'] == 'nl-infer':
            rate = gemm.get('fp32' if case['dtype'] == 'fp32' or case['device'] == 'cpu'
                            else case['dtype'])
            if rate:
                roofline = _attention_gflop(case) / rate
                row['roofline_s'] = roofline
                row['roofline_fraction'] = roofline / row['wall_s']
    return rows


CSV_FIELDS = ['suite', 'head', 'impl', 'size', 'batch', 'dtype', 'wall_s', 'cpu_s', 'peak_mib',
              'speed_vs_ref', 'cpu_speed_vs_ref', 'mem_vs_ref', 'attention_mib',
              'attention_mem_vs_ref', 'roofline_s', 'roofline_fraction', 'gflops', 'backend',
              'parity_out', 'parity_grad', 'ref_parity_out', 'ref_parity_grad', 'times_s',
              'mem_method', 'threads', 'error']

#: The goals of the issue that asked for this benchmark (issue 26), checked on every run.
GOALS = [
    ('pam-train', '', 'mem_vs_ref', '<=', 0.25, "PAM fwd+bwd: peak memory <= 0.25x mmseg's"),
    ('pam-train', '', 'speed_vs_ref', '>=', 1.0, "PAM fwd+bwd: speed >= 1.0x mmseg's"),
    ('pam-infer', '', 'roofline_fraction', '>=', 0.85,
     'PAM forward: >= 85% of the measured fp32 GEMM roofline'),
    ('pam-infer', '', 'speed_vs_ref', '>=', 2.0, "PAM forward: speed >= 2x mmseg's"),
    ('nl-train', '', 'speed_vs_ref', '>=', 1.0, "NL fwd+bwd: speed >= 1.0x mmcv's"),
    ('nl-infer', '', 'speed_vs_ref', '>=', 1.0, "NL forward: speed >= 1.0x mmcv's"),
    ('heads-train', 'da', 'attention_mem_vs_ref', '<=', 0.25,
     "DAHead training step: attention's share of peak memory <= 0.25x mmseg's"),
    ('heads-train', 'nl', 'attention_mem_vs_ref', '<=', 0.25,
     "NLHead training step: attention's share of peak memory <= 0.25x mmseg's"),
]


def _f(v, spec):
    return '' if v in ('', None) else format(float(v), spec)


def render_markdown(csv_path):
    reporting = _reporting()
    rows, header = reporting.read_csv(csv_path)
    lines = [f'# Attention against OpenMMLab\'s, side by side ({header.get("device_kind", "")}, '
             f'{header.get("dtype", "")})', '',
             '<!-- Written by tools/benchmark_attention.py --compare; rerun it rather than '
             'editing. -->', '']
    lines += reporting.header_markdown(header)
    table = []
    for r in rows:
        if r.get('error'):
            table.append([r['suite'], r['head'], r['impl'], r['size'], '', '', '', '', '', '',
                          '', r['error']])
            continue
        if r['suite'] == 'gemm':
            table.append([r['suite'], '', r['impl'], '', _f(r['wall_s'], '.4g'), '', '', '',
                          '', '', '', f'{float(r["gflops"]):.0f} GFLOP/s'])
            continue
        notes = []
        if r.get('roofline_fraction'):
            notes.append(f'roofline {float(r["roofline_s"]):.3g} s: '
                         f'{100 * float(r["roofline_fraction"]):.0f}%')
        if r.get('backend'):
            notes.append(f'backend {r["backend"]}')
        if r.get('parity_out'):
            notes.append('vs ref fp32: out ' + _f(r['parity_out'], '.1e') + (
                ', grad ' + _f(r['parity_grad'], '.1e') if r.get('parity_grad') else ''))
        if r.get('ref_parity_out'):
            notes.append('ref itself: out ' + _f(r['ref_parity_out'], '.1e') + (
                ', grad ' + _f(r['ref_parity_grad'], '.1e') if r.get('ref_parity_grad') else ''))
        note = '; '.join(notes)
        table.append([r['suite'], r['head'], r['impl'], f'{r["batch"]}x{r["size"]}',
                      _f(r['wall_s'], '.4g'), _f(r.get('cpu_s'), '.4g'),
                      _f(r.get('speed_vs_ref'), '.2f'), _f(r['peak_mib'], '.0f'),
                      _f(r.get('mem_vs_ref'), '.3f'), _f(r.get('attention_mib'), '.0f'),
                      _f(r.get('attention_mem_vs_ref'), '.3f'), note])
    lines += [''] + reporting.markdown_table(
        ['suite', 'head', 'implementation', 'B x HxW', 'wall (s)', 'CPU (s)', 'speed vs ref',
         'peak (MiB)', 'mem vs ref', 'attention (MiB)', 'attention mem vs ref', 'note'],
        table, 'lllrrrrrrrrl')
    lines += ['', 'Speed ratios are reference time / attnplug time (wall clock, medians); '
              'memory ratios attnplug / reference. "vs ref fp32" is attnplug\'s output (and input '
              'gradient) against the reference module\'s in fp32 on the same input and '
              'weights, as max |difference| / max |reference|; under autocast "ref itself" is '
              'the same measure for the reference\'s own autocast run. "attention (MiB)" is '
              'the head\'s peak minus the peak of the same head with its attention block '
              'replaced by an identity (`stub`).', '', '## Goals (issue 26)', '']
    for suite, head, field, op, bound, text in GOALS:
        row = next((r for r in rows if r['suite'] == suite and r['head'] == head
                    and r['impl'] == 'attnplug' and r.get(field)), None)
        if row is None:
            continue
        val = float(row[field])
        met = val <= bound if op == '<=' else val >= bound
        lines.append(f'- {text}: **{val:.2f}**, {"met" if met else "MISSED"} '
                     f'({field} {op} {bound}; measured at B x HxW = {row["batch"]}x{row["size"]})')
    lines += ['', f'Per-call times, CPU times and the memory method are in '
              f'`{osp.basename(csv_path)}`.']
    if header.get('note'):
        lines += ['', f'Note: {header["note"]}']
    return lines


def compare(args, argv):
    reporting = _reporting()
    started, t_start = reporting.now(), time.time()
    load0 = ' '.join(f'{v:.1f}' for v in os.getloadavg())
    cases = build_cases(args)
    results = {}
    for rnd in range(args.rounds):
        for case in cases:
            print(f'[round {rnd + 1}/{args.rounds}] {_key(case)} ...', file=sys.stderr,
                  flush=True)
            res = launch(case) if args.fresh_process else run_in_process(case)
            print(f'  -> {res}', file=sys.stderr, flush=True)
            _add_result(results, _key(case), res)
    rows = summarise(cases, results)
    header = reporting.run_header(
        reporting.command_line('tools/benchmark_attention.py', argv), args.device, started,
        device_kind=args.device.split(':')[0], dtype=args.dtype,
        load_average_start_end=f'{load0} / {" ".join(f"{v:.1f}" for v in os.getloadavg())}',
        timing=(f'median of {args.repeats} timed call(s) after {args.warmup} warm-up(s) per '
                f'round, {args.rounds} round(s), each case in '
                + ('a fresh process' if args.fresh_process else 'one process, one after the other')
                + '; wall clock'
                + (' (synchronised)' if args.device.startswith('cuda') else
                   ', CPU time of the process beside it')),
        memory=MEMORY_NOTE,
        wall_time_of_the_whole_run=f'{(time.time() - t_start) / 60:.1f} min',
        **({'note': args.note} if args.note else {}))
    reporting.write_csv(args.out + '.csv', rows, CSV_FIELDS, header)
    reporting.write_text(args.out + '.md', render_markdown(args.out + '.csv'))
    return rows


def _add_result(results, key, res):
    """Fold one case's result (a round) into ``results[key]``."""
    acc = results.setdefault(key, dict(times=[], cpu_times=[], peaks=[], gflops=[]))
    if res.get('error'):
        acc['error'] = res['error']
        return
    acc['times'] += res['times']
    acc['cpu_times'] += res['cpu_times']
    acc['peaks'].append(res['peak_mib'])
    if 'gflops' in res:
        acc['gflops'].append(res['gflops'])
    acc['backends'] = sorted(set(acc.get('backends', [])) | set(res.get('backends', [])))
    for field in PARITY_FIELDS:  # the worst over the rounds
        if res.get(field) is not None:
            acc[field] = max(acc.get(field, 0.0), res[field])
    acc['mem_method'], acc['threads'] = res['mem_method'], res['threads']


#: (query rows, keys per tile) of ``--tiles``; None keys: one pass over all keys (the rule
#: before key tiles: the rows of the 256 MiB budget).
TILE_SHAPES = ((2048, None), (512, 2048), (1024, 2048), (2048, 2048), (4096, 2048),
               (1024, 1024), (2048, 1024), (2048, 4096))
TILE_FIELDS = ['rows', 'cols', 'n', 'dk', 'dv', 'wall_s', 'times_s', 'speed_vs_all_keys',
               'gflops', 'rule']


def tiles(args, argv):
    """Time ``blocked_attention`` (forward, no grad) over :data:`TILE_SHAPES` on PAM's q, k, v
    and write ``<out>.csv`` / ``<out>.md``."""
    import torch

    from attnplug.functional import bounded_attention as ba
    from attnplug.functional.flash_attention import blocked_attention
    reporting = _reporting()
    started, t_start = reporting.now(), time.time()
    load0 = ' '.join(f'{v:.1f}' for v in os.getloadavg())
    h, w = args.pam_infer_size or (128, 256)
    case = dict(suite='pam-infer', impl='attnplug', channels=512, seed=args.seed)
    device = torch.device(args.device)
    module = build_module(case).eval().to(device)
    x = torch.randn(1, 512, h, w, generator=torch.Generator().manual_seed(args.seed)).to(device)
    with torch.inference_mode():
        q, k = module._qk(x)
        v = module.value_project(x).flatten(2).transpose(1, 2)
        q, k, v = (t.unsqueeze(1) for t in (q, k, v))  # (1, 1, N, d), the module's layout
        n = q.shape[2]
        cols_rule = ba.blocked_cols(1, n, device.type)
        rule = (ba.blocked_rows(1, n, training=False, key_tile=cols_rule), cols_rule)
        times = {shape: [] for shape in TILE_SHAPES}
        for _ in range(args.rounds):
            for rows, cols in TILE_SHAPES:
                for i in range(args.warmup + args.repeats):
                    t0 = time.perf_counter()
                    blocked_attention(q, k, v, 1.0, rows=rows, cols=cols)
                    if device.type == 'cuda':
                        torch.cuda.synchronize()
                    if i >= args.warmup:
                        times[(rows, cols)].append(time.perf_counter() - t0)
                print(f'{rows} x {cols or n}: {times[(rows, cols)]}', file=sys.stderr,
                      flush=True)
    gflop = 2 * n * n * (q.shape[-1] + v.shape[-1]) / 1e9
    base = statistics.median(times[TILE_SHAPES[0]])
    out_rows = []
    for rows, cols in TILE_SHAPES:
        med = statistics.median(times[(rows, cols)])
        out_rows.append(dict(rows=rows, cols=cols or n, n=n, dk=q.shape[-1], dv=v.shape[-1],
                             wall_s=f'{med:.4g}',
                             times_s=' '.join(f'{t:.3f}' for t in times[(rows, cols)]),
                             speed_vs_all_keys=f'{base / med:.2f}', gflops=f'{gflop / med:.0f}',
                             rule='yes' if (rows, cols) == rule else ''))
    header = reporting.run_header(
        reporting.command_line('tools/benchmark_attention.py', argv), args.device, started,
        threads=torch.get_num_threads(),
        load_average_start_end=f'{load0} / {" ".join(f"{v:.1f}" for v in os.getloadavg())}',
        timing=f'median of {args.repeats} call(s) after {args.warmup} warm-up(s) per round, '
        f'{args.rounds} round(s), the shapes interleaved, one process; wall clock'
        + (' (synchronised)' if device.type == 'cuda' else ''),
        wall_time_of_the_whole_run=f'{(time.time() - t_start) / 60:.1f} min',
        **({'note': args.note} if args.note else {}))
    reporting.write_csv(args.out + '.csv', out_rows, TILE_FIELDS, header)
    reporting.write_text(args.out + '.md', render_tiles(args.out + '.csv'))
    return out_rows


def render_tiles(csv_path):
    reporting = _reporting()
    rows, header = reporting.read_csv(csv_path)
    lines = ["# Tiles of the 'blocked' attention forward (DANet PAM's q, k, v)", '',
             '<!-- Written by tools/benchmark_attention.py --tiles; rerun it rather than '
             'editing. -->', '']
    lines += reporting.header_markdown(header)
    lines += [''] + reporting.markdown_table(
        ['query rows', 'keys per tile', 'N', 'dk', 'dv', 'wall (s)', 'GFLOP/s',
         'speed vs all keys', "auto's rule", 'calls (s)'],
        [[r['rows'], r['cols'], r['n'], r['dk'], r['dv'], r['wall_s'], r['gflops'],
          r['speed_vs_all_keys'], r['rule'], r['times_s']] for r in rows])
    lines += ['', "GFLOP/s is the attention's GEMM work, 2·N²·(dk + dv), over the median wall "
              "time. The first row is one pass over all keys per block of 2048 query rows (at "
              "N = 32768 the rows of the 256 MiB budget: the rule before key tiles); the others "
              "are an online softmax over key tiles. \"auto's rule\" marks the tile "
              "`backend='auto'` takes here (`blocked_rows`, `blocked_cols`)."]
    if header.get('note'):
        lines += ['', f'Note: {header["note"]}']
    return lines


def render_report(csv_path):
    """The markdown of any committed ``attention_*.csv``: the tile sweep (its columns are
    :data:`TILE_FIELDS`) or a comparison."""
    rows, _ = _reporting().read_csv(csv_path)
    if rows and set(rows[0]) == set(TILE_FIELDS):
        return render_tiles(csv_path)
    return render_markdown(csv_path)


def parse_log(path):
    """The cases and per-case results of a ``--compare`` run from its progress log (stderr:
    ``[round r/R] (suite, head, impl) ...`` then ``  -> {result}``), for a run that was cut
    short before it wrote its CSV."""
    import ast
    cases, results, key = [], {}, None
    with open(path) as f:
        for line in f:
            if line.startswith('[round '):
                key = ast.literal_eval(line.split('] ', 1)[1].rstrip().rstrip('.').strip())
            elif line.strip().startswith('-> {') and key is not None:
                if key not in results:
                    cases.append(dict(zip(('suite', 'head', 'impl'), key)))
                _add_result(results, key, ast.literal_eval(line.strip()[3:]))
    return cases, results


def from_log(run_dir, dtype, out=None):
    """Render ``<run_dir>/bench_<dtype>.log`` (a run of tools/device_cuda_attention.sh cut
    short) with the device of ``env.txt`` and the facts of ``run.json`` beside it into
    ``docs/benchmarks/attention_cuda[_<dtype>]_partial.{csv,md}``."""
    reporting = _reporting()
    with open(osp.join(run_dir, 'run.json')) as f:
        run = json.load(f)
    with open(osp.join(run_dir, 'env.txt')) as f:
        env = [ln.strip() for ln in f if ln.strip()]
    gpu = env[next(i for i, ln in enumerate(env) if ln.startswith('name,')) + 1]
    py_torch = next(ln.split() for ln in env if ln[:2] == '3.' and len(ln.split()) == 3)
    args = parse_args(['--compare', '--device', 'cuda', '--dtype', dtype])
    args.suites, args.quick = list(SUITES), False
    sizes = {(c['suite'], c.get('head', ''), c['impl']): c for c in build_cases(args)}
    cases, results = parse_log(osp.join(run_dir, f'bench_{dtype}.log'))
    cases = [dict(sizes[_key(c)], **c) for c in cases]
    if run.get('parity_vs_autocast_reference') and dtype != 'fp32':
        for res in results.values():  # measured against the autocast reference, not fp32
            for k in PARITY_FIELDS:
                res.pop(k, None)
    rows = summarise(cases, results)
    header = {
        'date': run['date'], 'device': f'cuda: {gpu} (PyTorch {py_torch[1]}, CUDA {py_torch[2]})',
        'versions': f'python {py_torch[0]}, torch {py_torch[1]}; ' + run['versions'],
        'command': run['commands'][dtype], 'device_kind': 'cuda', 'dtype': dtype,
        'timing': run['timing'], 'memory': MEMORY_NOTE,
        'rendered_from': f'{osp.relpath(run_dir, ROOT)}/bench_{dtype}.log by '
        f'python tools/benchmark_attention.py --from-log {osp.relpath(run_dir, ROOT)} '
        f'--dtype {dtype}', 'note': run['note']}
    tag = 'cuda' + ('' if dtype == 'fp32' else f'_{dtype}')
    out = out or osp.join(ROOT, 'docs', 'benchmarks', f'attention_{tag}_partial')
    reporting.write_csv(out + '.csv', rows, CSV_FIELDS, header)
    reporting.write_text(out + '.md', render_markdown(out + '.csv'))
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--grad', action='store_true', help='kernel table: forward + backward')
    p.add_argument('--repeat', type=int, default=3, help='kernel table: runs per case')
    p.add_argument('--compare', action='store_true',
                   help='PAM / NL / heads against mmseg and mmcv (see the docstring)')
    p.add_argument('--tiles', action='store_true',
                   help="time the 'blocked' forward's tile shapes on PAM's q, k, v")
    p.add_argument('--suites', nargs='+', choices=SUITES, default=list(SUITES))
    p.add_argument('--heads', nargs='+', choices=['da', 'nl'], default=['da', 'nl'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default='fp32')
    p.add_argument('--quick', action='store_true', help='smaller sizes (minutes on a CPU)')
    p.add_argument('--pam-infer-size', nargs=2, type=int, metavar=('H', 'W'))
    p.add_argument('--nl-size', nargs=2, type=int, default=[32, 48], metavar=('H', 'W'))
    p.add_argument('--crop', nargs=2, type=int, default=[512, 1024], metavar=('H', 'W'))
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fresh-process', action=argparse.BooleanOptionalAction, default=None,
                   help='each case in its own process (default on CPU, where the peak is the '
                   'resident set; on CUDA one process serves, the peak being '
                   'max_memory_allocated)')
    p.add_argument('--note', default='', help='a sentence for the report (e.g. the load)')
    p.add_argument('--out', default=None)
    p.add_argument('--from-log', metavar='RUN_DIR',
                   help='render a cut-short run of tools/device_cuda_attention.sh from its '
                   'logs (with --dtype)')
    p.add_argument('--case', help=argparse.SUPPRESS)
    p.add_argument('--compare-case', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fresh_process is None:
        args.fresh_process = not args.device.startswith('cuda')
    if args.out is None and args.tiles:
        args.out = osp.join(ROOT, 'docs', 'benchmarks',
                            f'attention_tiles_{args.device.split(":")[0]}')
    if args.out is None:
        tag = args.device.split(':')[0] + ('' if args.dtype == 'fp32' else f'_{args.dtype}')
        args.out = osp.join(ROOT, 'docs', 'benchmarks',
                            f'attention_{tag}{"_quick" if args.quick else ""}')
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a.case:
        print(json.dumps(run_kernel_case(**json.loads(a.case))))
        return
    if a.compare_case:
        print(json.dumps(run_compare_case(json.loads(a.compare_case))), flush=True)
        return
    if a.from_log:
        out = from_log(a.from_log, a.dtype)
        with open(out + '.md') as f:
            print(f.read())
        return
    if a.tiles:
        tiles(a, argv)
        with open(a.out + '.md') as f:
            print(f.read())
        return
    if a.compare:
        compare(a, argv)
        with open(a.out + '.md') as f:
            print(f.read())
        return
    if a.grad:
        cases = [dict(n=8192, dk=64, dv=dv, method='chunked', grad=True, ckpt=c, budget=32 * MIB)
                 for dv in (64, 512) for c in (False, True)]
        cases += [dict(n=n, dk=64, dv=64, method=m, grad=True) for n in (4096, 8192)
                  for m in ('naive', 'sdpa', 'chunked', 'blocked')]
        cases += [dict(n=8192, dk=64, dv=512, method=m, grad=True)
                  for m in ('naive', 'sdpa', 'sdpa-split', 'blocked')]
    else:
        cases = []
        for n in (4096, 16384):
            for dv in (64, 512):
                ms = ['naive', 'sdpa', 'chunked', 'blocked'] + (
                    ['sdpa-split'] if dv != 64 else ['chunked_sdpa'])
                cases += [dict(n=n, dk=64, dv=dv, method=m) for m in ms]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    env['PYTHONPATH'] = os.pathsep.join([ROOT, env.get('PYTHONPATH', '')])
    for c in cases:
        c.update(repeat=a.repeat, device=a.device, dtype=a.dtype)
        if not a.fresh_process:  # CUDA: one process (the peak is max_memory_allocated)
            try:
                print(json.dumps(run_kernel_case(**c)), flush=True)
            except Exception as e:  # noqa: BLE001 -- a failed case is a line of the table
                print(json.dumps(dict(c, error=f'{type(e).__name__}: {e}'[:300])), flush=True)
            continue
        r = subprocess.run([sys.executable, osp.abspath(__file__), '--case', json.dumps(c)],
                           capture_output=True, text=True, env=env)
        print(r.stdout.strip() or r.stderr.strip()[-500:], flush=True)


if __name__ == '__main__':
    main()
