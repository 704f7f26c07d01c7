"""Latency and peak memory of every attnplug module next to OpenMMLab's implementations.

    python tools/benchmark_modules.py --quick                  # a CPU subset, a few minutes
    python tools/benchmark_modules.py                          # the full grid (meant for a GPU)
    python tools/benchmark_modules.py --families NonLocal PAM --channels 512 --sizes 97x97 \\
        --modes fwd fwd+bwd --dtypes fp32 bf16 --devices cuda

Every case runs in this one process, one after another, on ``B`` images of ``C × H × W``:

* **latency**: the median of ``--repeat`` timed calls after ``--warmup`` untimed ones.
  ``fwd`` runs under ``torch.no_grad()``; ``fwd+bwd`` runs the forward with autograd and
  ``out.float().sum().backward()`` (the input requires grad, as a block inside a network).
  ``bf16`` is ``torch.autocast(dtype=torch.bfloat16)`` on the module in fp32, which is how mixed
  precision training runs it. CUDA timings synchronise before reading the clock.
* **peak memory**, one extra call after the timed ones, above the memory in use before it
  (input and parameters not counted): CUDA ``torch.cuda.max_memory_allocated()``; CPU the
  growth of the process's peak resident set (``VmHWM`` reset through ``/proc/self/clear_refs``),
  with the tool re-executed under ``MALLOC_MMAP_THRESHOLD_=65536`` so that freed tensors leave
  the resident set (``tracemalloc`` does not see torch's allocations). Details and the check
  of the method: :mod:`attnplug.analysis.profiling`.
* cases whose dense ``N × N`` attention (the reference implementations build it) would exceed
  ``--max-mem-gb`` are skipped and listed as such; a case whose warm-up call alone takes more
  than ``--max-case-seconds`` is timed once.

Outputs (``--out-dir``, default ``docs/benchmarks``): ``modules_<tag>.md`` (markdown table with
the date, device, torch version and the command), ``modules_<tag>.csv`` and
``modules_<tag>.png`` (latency and memory bars per module family, attnplug next to the
references). ``<tag>`` is ``quick-cpu``, ``full-cuda`` etc.

References: mmcv's ``NonLocal2d``, ``ContextBlock`` and ``ops.CrissCrossAttention`` (its
pure-PyTorch version in mmcv 2.1.0), mmseg's ``PAM`` / ``CAM`` (DANet), ``SELayer`` and
BiSeNetV1's ``AttentionRefinementModule``, mmdet's ``SELayer``, and the naive dense formula
``softmax(q kᵀ / √d) v`` for multi-head self-attention (same weights as attnplug's).
"""
import argparse
import csv
import gc
import math
import os
import os.path as osp
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

DATE = '2026-11-21'

FULL = dict(channels=(256, 512, 2048), sizes=('64x128', '97x97', '128x256'),
            modes=('fwd', 'fwd+bwd'), dtypes=('fp32', 'bf16'), max_case_seconds=20.0,
            skip=())
# The CPU subset (about 5 minutes on 2 shared cores): C=256 on the 64x128 map; fp32 forward,
# bf16 forward and fp32 forward+backward; a case whose first call takes over 4 s is timed once.
QUICK = dict(channels=(256, ), sizes=('64x128', ), modes=('fwd', 'fwd+bwd'),
             dtypes=('fp32', 'bf16'), max_case_seconds=4.0, skip=(('fwd+bwd', 'bf16'), ))


# ----------------------------------------------------------------------------- modules
@dataclass
class Impl:
    family: str
    name: str
    source: str  # 'attnplug' | 'mmcv' | 'mmseg' | 'mmdet' | 'naive'
    build: Callable[[int], 'object']
    quadratic: bool = False  # builds the dense N×N attention
    gated_input: bool = False  # forward(x, g) with g at half resolution


def _naive_mhsa(channels: int):
    """softmax(q kᵀ/√d) v over all positions with dense matrices, on the weights of an
    attnplug ``MultiHeadSelfAttention2d(pos_encoding=None)`` (8 heads)."""
    import torch
    import torch.nn as nn

    from attnplug.layers import MultiHeadSelfAttention2d

    class NaiveMHSA(nn.Module):

        def __init__(self):
            super().__init__()
            self.inner = MultiHeadSelfAttention2d(channels, 8, pos_encoding=None)

        def forward(self, x):
            m = self.inner
            b, c, h, w = x.shape
            q, k, v = (m._split_heads(t) for t in m.qkv(x).chunk(3, dim=1))
            a = torch.softmax(q @ k.transpose(-2, -1) * m.head_channels**-0.5, dim=-1)
            out = (a @ v).transpose(-2, -1).reshape(b, -1, h, w)
            return x + m.out_proj(out)

    return NaiveMHSA()


def implementations() -> List[Impl]:
    import attnplug.layers as L

    def mmcv_nl(c):
        from mmcv.cnn import NonLocal2d
        return NonLocal2d(c, reduction=2, use_scale=True, mode='embedded_gaussian')

    def mmcv_gc(c):
        from mmcv.cnn import ContextBlock
        return ContextBlock(c, ratio=1. / 16)

    def mmcv_cc(c):
        from mmcv.ops import CrissCrossAttention
        return CrissCrossAttention(c)

    def mmseg_pam(c):
        from mmseg.models.decode_heads.da_head import PAM
        return PAM(c, max(c // 8, 1))

    def mmseg_cam(c):
        from mmseg.models.decode_heads.da_head import CAM
        return CAM()

    def mmseg_se(c):
        from mmseg.models.utils import SELayer
        return SELayer(c, ratio=16, act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))

    def mmdet_se(c):
        from mmdet.models.layers import SELayer
        return SELayer(c, ratio=16, act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))

    def mmseg_arm(c):
        from mmseg.models.backbones.bisenetv1 import AttentionRefinementModule
        return AttentionRefinementModule(c, c)

    return [
        Impl('SE', 'SqueezeExcitation', 'attnplug', lambda c: L.SqueezeExcitation(c, 16)),
        Impl('SE', 'SELayer', 'mmseg', mmseg_se),
        Impl('SE', 'SELayer', 'mmdet', mmdet_se),
        Impl('ECA', 'ECA', 'attnplug', lambda c: L.ECA(c)),
        Impl('CBAM', 'CBAM', 'attnplug', lambda c: L.CBAM(c, 16)),
        Impl('BAM', 'BAM', 'attnplug', lambda c: L.BAM(c)),
        Impl('scSE', 'SCSE', 'attnplug', lambda c: L.SCSE(c)),
        Impl('CoordAtt', 'CoordAttention', 'attnplug', lambda c: L.CoordAttention(c)),
        Impl('SK', 'SKConv', 'attnplug', lambda c: L.SKConv(c, c)),
        Impl('AttnGate', 'AttentionGate', 'attnplug', lambda c: L.AttentionGate(c, c),
             gated_input=True),
        Impl('ARM', 'AttentionRefinementModule', 'attnplug',
             lambda c: L.AttentionRefinementModule(c, c)),
        Impl('ARM', 'AttentionRefinementModule', 'mmseg', mmseg_arm),
        Impl('GC', 'GlobalContextBlock', 'attnplug', lambda c: L.GlobalContextBlock(c)),
        Impl('GC', 'ContextBlock', 'mmcv', mmcv_gc),
        Impl('NonLocal', 'NonLocal2d', 'attnplug', lambda c: L.NonLocal2d(c)),
        Impl('NonLocal', 'NonLocal2d', 'mmcv', mmcv_nl, quadratic=True),
        Impl('PAM', 'PositionAttention', 'attnplug', lambda c: L.PositionAttention(c)),
        Impl('PAM', 'PAM', 'mmseg', mmseg_pam, quadratic=True),
        Impl('CAM', 'ChannelAttention', 'attnplug', lambda c: L.ChannelAttention(c)),
        Impl('CAM', 'CAM', 'mmseg', mmseg_cam),
        Impl('CrissCross', 'CrissCrossAttention(R=1)', 'attnplug',
             lambda c: L.CrissCrossAttention(c, recurrence=1)),
        Impl('CrissCross', 'CrissCrossAttention', 'mmcv', mmcv_cc),
        Impl('MHSA', 'MultiHeadSelfAttention2d', 'attnplug',
             lambda c: L.MultiHeadSelfAttention2d(c, 8, pos_encoding=None)),
        Impl('MHSA', 'naive softmax(qkᵀ)v', 'naive', _naive_mhsa, quadratic=True),
    ]


# ------------------------------------------------------------------------- measurement
@dataclass
class Result:
    family: str
    impl: str
    source: str
    channels: int
    size: str
    mode: str
    dtype: str
    device: str
    median_ms: Optional[float] = None
    min_ms: Optional[float] = None
    repeats: int = 0
    peak_mib: Optional[float] = None
    params: int = 0
    status: str = 'ok'
    extra: Dict = field(default_factory=dict)


def run_case(impl: Impl, c: int, size: str, mode: str, dtype: str, device: str, batch: int,
             warmup: int, repeat: int, max_mem_gb: float, max_case_s: float,
             min_time_s: float = 1.0) -> Result:
    import torch

    from attnplug.analysis.profiling import measure_latency, measure_peak_memory

    h, w = (int(v) for v in size.split('x'))
    n = h * w
    res = Result(impl.family, impl.name, impl.source, c, size, mode, dtype, device)
    if impl.quadratic:
        # scores + softmax (+ their grads with autograd), fp32, per image in the batch
        dense = batch * n * n * 4 * (2 if mode == 'fwd' else 4)
        if impl.name.startswith('naive'):
            dense *= 8  # one matrix per head
        if dense > max_mem_gb * 2**30:
            res.status = f'skipped: dense N×N needs ~{dense / 2**30:.0f} GiB'
            return res
    torch.manual_seed(0)
    try:
        module = impl.build(c).to(device)
    except Exception as e:  # noqa: BLE001  (a reference that cannot be built here)
        res.status = f'error building: {type(e).__name__}: {e}'[:160]
        return res
    module.train(mode != 'fwd')
    res.params = sum(p.numel() for p in module.parameters())
    x = torch.randn(batch, c, h, w, device=device)
    g = torch.randn(batch, c, (h + 1) // 2, (w + 1) // 2, device=device)
    grad = mode != 'fwd'
    if grad:
        x.requires_grad_()
    amp = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == 'bf16')

    def call():
        args = (x, g) if impl.gated_input else (x, )
        if grad:
            with amp:
                out = module(*args)
            out.float().sum().backward()
            x.grad = None
            for p in module.parameters():
                p.grad = None
        else:
            with torch.no_grad(), amp:
                module(*args)

    try:
        lat = measure_latency(call, device, warmup, repeat, max_first_s=max_case_s,
                              min_time_s=min_time_s)
        res.median_ms, res.min_ms, res.repeats = lat['median_ms'], lat['min_ms'], lat['calls']
        if lat['single']:
            res.status = f'ok (one call: it took {lat["median_ms"] / 1e3:.1f} s)'
        res.peak_mib = measure_peak_memory(call, device)
    except Exception as e:  # noqa: BLE001  (e.g. a kernel without bf16 support)
        res.status = f'error: {type(e).__name__}: {e}'[:160]
    finally:
        del module, x, g
        gc.collect()
        if device == 'cuda':
            torch.cuda.empty_cache()
    return res


# ------------------------------------------------------------------------------ output
def _fmt(v, digits=1):
    if v is None:
        return '—'
    if 0 < abs(v) < 10:  # three significant digits for small values
        return f'{v:.{max(digits, 2 - math.floor(math.log10(abs(v))))}f}'
    return f'{v:,.{digits}f}'


def write_outputs(results: List[Result], out_dir: str, tag: str, header: Dict[str, str]):
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.join(out_dir, f'modules_{tag}')
    fields = [k for k in asdict(results[0]) if k != 'extra'] if results else []
    with open(stem + '.csv', 'w', newline='') as f:
        wr = csv.writer(f)
        wr.writerow([f'# {k}: {v}' for k, v in header.items()])
        wr.writerow(fields)
        for r in results:
            d = asdict(r)
            wr.writerow([d[k] if not isinstance(d[k], float) else round(d[k], 3)
                         for k in fields])

    # markdown: one row per implementation and case; the ratio is to attnplug's row
    ref = {(r.family, r.channels, r.size, r.mode, r.dtype, r.device): r for r in results
           if r.source == 'attnplug'}
    lines = [f'# Module benchmark ({tag})', '']
    lines += [f'- **{k}**: {v}' for k, v in header.items()]
    lines += ['', '| family | implementation | C | H×W | mode | dtype | device | median ms '
              '| × attnplug time | peak MiB | × attnplug memory | params | status |',
              '|---|---|---:|---|---|---|---|---:|---:|---:|---:|---:|---|']
    for r in results:
        a = ref.get((r.family, r.channels, r.size, r.mode, r.dtype, r.device))
        t_ratio = m_ratio = '—'
        if a is not None and r.source != 'attnplug':
            if a.median_ms and r.median_ms:
                t_ratio = f'{r.median_ms / a.median_ms:.2f}'
            if a.peak_mib and r.peak_mib:
                m_ratio = f'{r.peak_mib / a.peak_mib:.2f}'
        impl = f'{r.impl} ({r.source})'
        lines.append(f'| {r.family} | {impl} | {r.channels} | {r.size} | {r.mode} | {r.dtype} '
                     f'| {r.device} | {_fmt(r.median_ms)} | {t_ratio} | {_fmt(r.peak_mib)} '
                     f'| {m_ratio} | {r.params:,} | {r.status} |')
    with open(stem + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    _plot(results, stem + '.png', tag, header)
    return stem


def read_csv(path: str):
    """The results and header of a CSV that :func:`write_outputs` wrote."""
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header = dict(cell[2:].split(': ', 1) for cell in rows[0] if cell.startswith('# '))
    fields = rows[1]
    results = []
    for row in rows[2:]:
        d = dict(zip(fields, row))
        for k in ('median_ms', 'min_ms', 'peak_mib'):
            d[k] = float(d[k]) if d[k] not in ('', 'None') else None
        for k in ('channels', 'repeats', 'params'):
            d[k] = int(d[k])
        results.append(Result(**d))
    return results, header


def _plot(results: List[Result], path: str, tag: str, header: Dict[str, str]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.median_ms is not None]
    if not ok:
        return
    cases = sorted({(r.channels, r.size, r.mode, r.dtype, r.device) for r in ok})
    colours = {'attnplug': '#1f77b4', 'mmcv': '#ff7f0e', 'mmseg': '#2ca02c',
               'mmdet': '#d62728', 'naive': '#7f7f7f'}
    fig, axes = plt.subplots(len(cases), 2, figsize=(13, 0.32 * 24 + 1.2),
                             squeeze=False)
    if len(cases) > 1:
        fig.set_size_inches(13, (0.32 * 24 + 1.2) * len(cases))
    for row, case in enumerate(cases):
        rs = [r for r in ok if (r.channels, r.size, r.mode, r.dtype, r.device) == case]
        labels = [f'{r.family}: {r.impl} ({r.source})' for r in rs]
        ys = range(len(rs))
        for col, (key, unit) in enumerate((('median_ms', 'median latency, ms (log)'),
                                           ('peak_mib', 'peak memory, MiB (log)'))):
            ax = axes[row][col]
            vals = [getattr(r, key) or 0 for r in rs]
            ax.barh(list(ys), [max(v, 1e-3) for v in vals],
                    color=[colours.get(r.source, 'k') for r in rs])
            ax.set_xscale('log')
            ax.set_yticks(list(ys))
            ax.set_yticklabels(labels if col == 0 else [], fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel(unit, fontsize=8)
            for y, v in zip(ys, vals):
                ax.text(max(v, 1e-3), y, f' {v:,.1f}', va='center', fontsize=6)
            c, size, mode, dtype, device = case
            ax.set_title(f'B={header.get("batch", "?")}, C={c}, {size}, {mode}, {dtype}, '
                         f'{device}', fontsize=9)
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullFormatter
    for ax in axes.flat:
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0][1].legend(handles=[Patch(color=c, label=s) for s, c in colours.items()],
                      fontsize=7, loc='lower right')
    fig.suptitle(f'attnplug module benchmark ({tag}), {header["date"]}, {header["device"]}, '
                 f'torch {header["torch"]}', fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_size_inches()[1]))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='the CPU subset (see QUICK)')
    p.add_argument('--families', nargs='+', help='only these families (e.g. PAM NonLocal)')
    p.add_argument('--channels', type=int, nargs='+')
    p.add_argument('--sizes', nargs='+', help='HxW, e.g. 64x128 97x97')
    p.add_argument('--modes', nargs='+', choices=('fwd', 'fwd+bwd'))
    p.add_argument('--dtypes', nargs='+', choices=('fp32', 'bf16'))
    p.add_argument('--devices', nargs='+', choices=('cpu', 'cuda'),
                   help='default: cuda when available, else cpu')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--warmup', type=int)
    p.add_argument('--repeat', type=int)
    p.add_argument('--threads', type=int,
                   help='torch CPU threads (default: 1 with --quick, else torch default)')
    p.add_argument('--max-mem-gb', type=float,
                   help='skip dense N×N references above this (default: 4 CPU, 60 CUDA)')
    p.add_argument('--max-case-seconds', type=float,
                   help='time a case once when its first call takes longer (default: 4 with '
                   '--quick, else 20)')
    p.add_argument('--out-dir', default='docs/benchmarks')
    p.add_argument('--tag', help='output name tag (default: quick-<device> / full-<device>)')
    p.add_argument('--from-csv', help='re-draw the markdown and plot of an earlier CSV '
                   '(same tag) without measuring')
    return p.parse_args(argv)


def main(argv=None):
    raw = sys.argv[1:] if argv is None else argv
    if argv is None:
        # See attnplug.analysis.profiling: make the resident set follow the live tensors.
        from attnplug.analysis.profiling import reexec_with_mmap_threshold
        reexec_with_mmap_threshold(__file__, raw)
    args = parse_args(raw)
    if args.from_csv:
        results, header = read_csv(args.from_csv)
        tag = args.tag or osp.splitext(osp.basename(args.from_csv))[0].replace('modules_', '')
        stem = write_outputs(results, args.out_dir, tag, header)
        print(f'wrote {stem}.md, .csv, .png')
        return results

    import torch

    import attnplug  # noqa: F401

    # --quick runs on shared CI-like CPUs: one thread avoids OpenMP barriers stalling on a
    # descheduled sibling thread, which made multi-threaded medians swing by 10x there.
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    grid = QUICK if args.quick else FULL
    channels = args.channels or grid['channels']
    sizes = args.sizes or grid['sizes']
    modes = args.modes or grid['modes']
    dtypes = args.dtypes or grid['dtypes']
    devices = args.devices or (['cuda'] if torch.cuda.is_available() else ['cpu'])
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 10)
    impls = [i for i in implementations() if not args.families or i.family in args.families]
    max_case_s = args.max_case_seconds or grid['max_case_seconds']

    dev_desc = []
    for d in devices:
        if d == 'cuda':
            dev_desc.append(torch.cuda.get_device_name(0))
        else:
            dev_desc.append(f'CPU {platform.processor() or platform.machine()}, '
                            f'{torch.get_num_threads()} torch threads, {os.cpu_count()} cores')
    header = {
        'date': DATE,
        'device': '; '.join(dev_desc),
        'torch': torch.__version__,
        'batch': str(args.batch),
        'command': 'python tools/benchmark_modules.py ' + ' '.join(shlex.quote(a) for a in raw),
        'latency': (f'median of max({repeat}, calls fitting in ~1 s, at most 50) calls after '
                    f'{warmup} warm-up call(s)'),
        'memory': ('CUDA: max_memory_allocated growth; CPU: peak RSS growth (VmHWM after '
                   'clear_refs, MALLOC_MMAP_THRESHOLD_=65536), one call'),
        'bf16': 'torch.autocast(bfloat16) on fp32 modules',
    }
    results = []
    for device in devices:
        max_mem = args.max_mem_gb or (60.0 if device == 'cuda' else 4.0)
        for c in channels:
            for size in sizes:
                for mode in modes:
                    for dtype in dtypes:
                        if (mode, dtype) in grid['skip'] and not (args.modes or args.dtypes):
                            continue
                        for impl in impls:
                            r = run_case(impl, c, size, mode, dtype, device, args.batch,
                                         warmup, repeat, max_mem, max_case_s)
                            results.append(r)
                            print(f'{r.family:10s} {r.impl[:28]:28s} {r.source:8s} C={c:<5d} '
                                  f'{size:8s} {mode:8s} {dtype:5s} {device:4s} '
                                  f'{_fmt(r.median_ms):>10s} ms {_fmt(r.peak_mib):>9s} MiB  '
                                  f'{r.status}', flush=True)
    tag = args.tag or f'{"quick" if args.quick else "full"}-{devices[0]}'
    stem = write_outputs(results, args.out_dir, tag, header)
    print(f'wrote {stem}.md, .csv, .png')
    return results


if __name__ == '__main__':
    main()
