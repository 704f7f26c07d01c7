"""Latency and peak memory of every attnplug module next to OpenMMLab's implementations.

The library behind ``tools/benchmark_modules.py``::

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

The attnplug modules are discovered from attnplug's registry through the layer convention
(``docs/contributing.md``): every registered :class:`~attnplug.layers.base.AttentionModule` is
built with ``cls.for_channels(C)`` and fed ``layer.example_inputs(B, H, W)`` (an attention
gate gets its gating signal that way). A layer added with ``attnplug/layers/<x>.py`` and its registration
line appears here without an edit. :data:`ATTNPLUG_KWARGS` holds the few arguments that make
attnplug's module compute what its reference computes.

References (:data:`REFERENCES`, keyed by the attnplug class they are compared with): mmcv's
``NonLocal2d``, ``ContextBlock`` and ``ops.CrissCrossAttention`` (its pure-PyTorch version in
mmcv 2.1.0), mmseg's ``PAM`` / ``CAM`` (DANet), ``SELayer`` and BiSeNetV1's
``AttentionRefinementModule``, mmdet's ``SELayer``, and the naive dense formula
``softmax(q kᵀ / √d) v`` for multi-head self-attention (same weights as attnplug's).
"""
import gc
import math
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from . import reporting

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


def _mmcv_nl(c):
    from mmcv.cnn import NonLocal2d
    return NonLocal2d(c, reduction=2, use_scale=True, mode='embedded_gaussian')


def _mmcv_gc(c):
    from mmcv.cnn import ContextBlock
    return ContextBlock(c, ratio=1. / 16)


def _mmcv_cc(c):
    from mmcv.ops import CrissCrossAttention
    return CrissCrossAttention(c)


def _mmseg_pam(c):
    from mmseg.models.decode_heads.da_head import PAM
    return PAM(c, max(c // 8, 1))


def _mmseg_cam(c):
    from mmseg.models.decode_heads.da_head import CAM
    return CAM()


def _mmseg_se(c):
    from mmseg.models.utils import SELayer
    return SELayer(c, ratio=16, act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))


def _mmdet_se(c):
    from mmdet.models.layers import SELayer
    return SELayer(c, ratio=16, act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))


def _mmseg_arm(c):
    from mmseg.models.backbones.bisenetv1 import AttentionRefinementModule
    return AttentionRefinementModule(c, c)


#: attnplug class -> [(reference name, source, builder(C), builds the dense N×N attention)].
#: OpenMMLab has no module to compare the other attnplug layers with.
REFERENCES = {
    'SqueezeExcitation': [('SELayer', 'mmseg', _mmseg_se, False),
                          ('SELayer', 'mmdet', _mmdet_se, False)],
    'AttentionRefinementModule': [('AttentionRefinementModule', 'mmseg', _mmseg_arm, False)],
    'GlobalContextBlock': [('ContextBlock', 'mmcv', _mmcv_gc, False)],
    'NonLocal2d': [('NonLocal2d', 'mmcv', _mmcv_nl, True)],
    'PositionAttention': [('PAM', 'mmseg', _mmseg_pam, True)],
    'ChannelAttention': [('CAM', 'mmseg', _mmseg_cam, False)],
    'CrissCrossAttention': [('CrissCrossAttention', 'mmcv', _mmcv_cc, False)],
    'MultiHeadSelfAttention2d': [('naive softmax(qkᵀ)v', 'naive', _naive_mhsa, True)],
}

#: Arguments beyond ``in_channels`` that make attnplug's module compute what its reference
#: computes (mmcv's criss-cross makes one pass; the naive MHSA has 8 heads and no position
#: encoding; mmseg's SELayer has ratio 16).
ATTNPLUG_KWARGS = {
    'CrissCrossAttention': dict(recurrence=1),
    'MultiHeadSelfAttention2d': dict(num_heads=8, pos_encoding=None),
}


def implementations() -> List[Impl]:
    """attnplug's registered layers, each followed by its references."""
    from attnplug.layers.base import registered_layers
    impls = []
    for name, cls in registered_layers().items():
        kwargs = ATTNPLUG_KWARGS.get(name, {})

        def build(c, cls=cls, kwargs=kwargs):
            # The layer convention (docs/contributing.md): ``for_channels`` builds any layer at
            # its defaults; a layer with a reference is set to compute what the reference does.
            return cls(in_channels=c, **kwargs) if kwargs else cls.for_channels(c)

        impls.append(Impl(name, name, 'attnplug', build))
        for ref_name, source, builder, quadratic in REFERENCES.get(name, []):
            impls.append(Impl(name, ref_name, source, builder, quadratic=quadratic))
    return impls


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
             min_time_s: float = 1.0, clock: str = 'wall') -> Result:
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
    # attnplug's layers say what their forward takes (an attention gate: x and a gating signal
    # at half resolution); the references take one (N, C, H, W) feature.
    example_inputs = getattr(module, 'example_inputs', None)
    args = tuple(t.to(device) for t in (example_inputs(batch, h, w) if example_inputs else
                                          (torch.randn(batch, c, h, w), )))
    x = args[0]
    grad = mode != 'fwd'
    if grad:
        x.requires_grad_()
    amp = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == 'bf16')

    def call():
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
                              min_time_s=min_time_s, clock=clock)
        res.median_ms, res.min_ms, res.repeats = lat['median_ms'], lat['min_ms'], lat['calls']
        if lat['single']:
            res.status = f'ok (one call: it took {lat["median_ms"] / 1e3:.1f} s)'
        res.peak_mib = measure_peak_memory(call, device)
    except Exception as e:  # noqa: BLE001  (e.g. a kernel without bf16 support)
        res.status = f'error: {type(e).__name__}: {e}'[:160]
    finally:
        del module, x, args
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
    """``modules_<tag>.csv`` (the header on its first line), ``.md`` and ``.png``."""
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.join(out_dir, f'modules_{tag}')
    fields = [k for k in Result.__dataclass_fields__ if k != 'extra']
    rows = [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(r).items()}
            for r in results]
    reporting.write_csv(stem + '.csv', rows, fields, header)

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
    reporting.write_text(stem + '.md', lines)
    _plot(results, stem + '.png', tag, header)
    return stem


def read_csv(path: str):
    """The results and header of a CSV that :func:`write_outputs` wrote."""
    rows, header = reporting.read_csv(path)
    results = []
    for d in rows:
        for k in ('median_ms', 'min_ms', 'peak_mib'):
            d[k] = float(d[k]) if d[k] not in ('', 'None') else None
        for k in ('channels', 'repeats', 'params'):
            d[k] = int(d[k])
        results.append(Result(**d))
    return results, header


def _plot(results: List[Result], path: str, tag: str, header: Dict[str, str]) -> None:
    plt = reporting.pyplot()
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
    reporting.save_figure(fig, path, dpi=100)


# -------------------------------------------------------------------------------- run
def run(args, command: str) -> List[Result]:
    """Measure the grid ``args`` asks for (the options of ``tools/benchmark_modules.py``) and
    write the outputs; with ``args.from_csv``, only re-render an earlier CSV."""
    if args.from_csv:
        results, header = read_csv(args.from_csv)
        tag = args.tag or osp.splitext(osp.basename(args.from_csv))[0].replace('modules_', '')
        stem = write_outputs(results, args.out_dir, tag, header)
        print(f'wrote {stem}.md, .csv, .png')
        return results

    import torch

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
    if args.families:
        unknown = set(args.families) - {i.family for i in impls}
        if unknown:
            raise ValueError(f'benchmark_modules: unknown --families {sorted(unknown)}; '
                             f'registered: {sorted({i.family for i in implementations()})}')
    max_case_s = args.max_case_seconds or grid['max_case_seconds']
    clocks = {d: ('wall' if d == 'cuda' else args.clock) for d in devices}
    header = reporting.run_header(
        command, devices[0], batch=args.batch,
        latency=(f'median of max({repeat}, calls fitting in ~1 s, at most 50) calls after '
                 f'{warmup} warm-up call(s); clock: ' +
                 ', '.join(f'{d}: {"CPU time of the process" if c == "cpu" else "wall"}'
                           for d, c in clocks.items())),
        memory=('CUDA: max_memory_allocated growth; CPU: peak RSS growth (VmHWM after '
                'clear_refs, MALLOC_MMAP_THRESHOLD_=65536), one call'),
        bf16='torch.autocast(bfloat16) on fp32 modules')
    header['torch'] = torch.__version__
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
                                         warmup, repeat, max_mem, max_case_s,
                                         clock=clocks[device])
                            results.append(r)
                            print(f'{r.family:10s} {r.impl[:28]:28s} {r.source:8s} C={c:<5d} '
                                  f'{size:8s} {mode:8s} {dtype:5s} {device:4s} '
                                  f'{_fmt(r.median_ms):>10s} ms {_fmt(r.peak_mib):>9s} MiB  '
                                  f'{r.status}', flush=True)
    tag = args.tag or f'{"quick" if args.quick else "full"}-{devices[0]}'
    stem = write_outputs(results, args.out_dir, tag, header)
    print(f'wrote {stem}.md, .csv, .png')
    return results
