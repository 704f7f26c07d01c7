"""Cost of each attention placement in Faster R-CNN R-50-FPN against the plain detector, one run.

The library behind ``tools/benchmark_det_plugins.py`` (a cost benchmark: nothing is trained;
the detection *training* benchmark over seeds is ``tools/benchmark_learning.py --task det``).

For mmdet's Faster R-CNN R-50-FPN (the baseline, mmdet's own config) and attnplug's plugin
configs of it (``configs/<method>/faster-rcnn_r50-*_fpn_1x_coco.py``), measures:

* parameters of the whole detector;
* FLOPs of backbone + FPN at a fixed input, counted by mmengine's ``FlopAnalyzer`` with
  attnplug's handles for fused attention (:mod:`attnplug.analysis.flops`): one multiply-add is
  one FLOP, element-wise work is not counted. The heads are the same in every variant, so the
  differences are the plugins' cost;
* the time (by default on CPU the process's CPU time, which a shared machine's other jobs
  barely affect; wall time on CUDA) of one training step (``model.train_step`` on 2 images, as mmdet's recipe puts on a
  GPU: preprocessing, forward, losses, backward and an SGD step with lr=0, so every step sees the
  same weights) and of one inference (``model.test_step`` on 1 image: preprocessing, forward,
  NMS, boxes), on random images with two boxes each.
  Each is the median of ``--repeat`` runs after ``--warmup`` runs. The variants are timed round
  robin (one step of each in turn), so a change in the load of a shared machine hits them alike.

Writes a markdown table and a CSV (``--out``: ``<out>.md``, ``<out>.csv``), with the date, the
device, the versions and the command::

    python tools/benchmark_det_plugins.py                          # CPU, 320x320, all variants
    python tools/benchmark_det_plugins.py --device cuda --size 800 1344 --repeat 20
    python tools/benchmark_det_plugins.py --only se cbam --out /tmp/det_plugins
"""
import logging
import os.path as osp
import statistics
import time

import torch
import torch.nn as nn

from attnplug.analysis.profiling import PeakMemoryProbe

from . import reporting
from .paths import ROOT

#: (key, label, config relative to the repository, or mmdet:: for mmdet's own)
VARIANTS = [
    ('baseline', 'plain (mmdet)', 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'),
    ('se', 'SE', 'configs/se/faster-rcnn_r50-se-c3-c5_fpn_1x_coco.py'),
    ('eca', 'ECA', 'configs/eca/faster-rcnn_r50-eca-c3-c5_fpn_1x_coco.py'),
    ('cbam', 'CBAM', 'configs/cbam/faster-rcnn_r50-cbam-c3-c5_fpn_1x_coco.py'),
    ('ca', 'Coord. attention', 'configs/coord_attention/faster-rcnn_r50-ca-c3-c5_fpn_1x_coco.py'),
    ('sk', 'SK conv', 'configs/sknet/faster-rcnn_r50-syncbn-sk-c3-c5_fpn_1x_coco.py'),
    ('nl', 'Non-local', 'configs/nonlocal_net/faster-rcnn_r50-nl-c4-c5_fpn_1x_coco.py'),
    ('mhsa', 'MHSA', 'configs/mhsa/faster-rcnn_r50-mhsa-c4-c5_fpn_1x_coco.py'),
    ('cca', 'Criss-cross', 'configs/ccnet/faster-rcnn_r50-cca-c5_fpn_1x_coco.py'),
    ('pam', 'DANet PAM', 'configs/danet/faster-rcnn_r50-pam-c5_fpn_1x_coco.py'),
    ('bam', 'BAM', 'configs/bam/faster-rcnn_r50-bam-c3-c4_fpn_1x_coco.py'),
]

COLUMNS = ['variant', 'placement', 'plugins', 'params_M', 'd_params', 'gflops_time_size',
           'd_gflops_time_size', 'gflops_flops_size', 'd_gflops_flops_size', 'train_step_ms',
           'train_spread_pct', 'train_x', 'infer_ms', 'infer_spread_pct', 'infer_x', 'peak_mem_MiB',
           'config']


def config_path(spec: str) -> str:
    if spec.startswith('mmdet::'):
        import mmdet
        return osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', spec[len('mmdet::'):])
    return osp.join(ROOT, spec)


def placement(model) -> tuple:
    """('after_conv3 c3-c5', n): where the plugins of a detector sit, and how many there are."""
    backbone = model.backbone
    where = {}
    for rec in getattr(backbone, 'named_plugins', lambda: [])():
        where.setdefault(rec.position, set()).add(rec.stage)
    count = sum(1 for _ in getattr(backbone, 'named_plugins', lambda: [])())
    parts = [f'{pos} ' + '-'.join(dict.fromkeys([f'c{min(s) + 2}', f'c{max(s) + 2}']))
             for pos, s in where.items()]
    if getattr(backbone, 'dcn', None) is not None:
        stages = [i for i, on in enumerate(backbone.stage_with_dcn) if on]
        parts.append('conv2 (dcn slot) ' + '-'.join(dict.fromkeys([f'c{stages[0] + 2}',
                                                                   f'c{stages[-1] + 2}'])))
        count += sum(backbone.stage_blocks[i] for i in stages)
    return (', '.join(parts) or '-'), count


class BackboneNeck(nn.Module):
    """The part of a detector that the plugins change: image -> FPN features."""

    def __init__(self, detector):
        super().__init__()
        self.backbone, self.neck = detector.backbone, detector.neck

    def forward(self, x):
        return self.neck(self.backbone(x))


def backbone_neck_gflops(model, size, device) -> tuple:
    """(GFLOPs of backbone + FPN on one ``size`` image, operators the counter skipped)."""
    from mmengine.analysis import FlopAnalyzer

    from attnplug.analysis.flops import attention_flop_handles
    analyzer = FlopAnalyzer(BackboneNeck(model).eval(),
                            (torch.randn(1, 3, *size, device=device), ))
    analyzer.set_op_handle(**attention_flop_handles())
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():  # as inference: attnplug's attention picks its kernel by this
        return analyzer.total() / 1e9, analyzer.unsupported_ops()


def fake_data(size, batch, seed=0):
    """``batch`` random images with two boxes each, as a dataloader gives them to ``train_step``."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    h, w = size
    g = torch.Generator().manual_seed(seed)
    images, samples = [], []
    for _ in range(batch):
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.), pad_shape=(h, w)))
        inst = InstanceData()
        inst.bboxes = torch.tensor([[0.1 * w, 0.1 * h, 0.5 * w, 0.6 * h],
                                    [0.4 * w, 0.3 * h, 0.9 * w, 0.9 * h]])
        inst.labels = torch.tensor([0, 2])
        sample.gt_instances = inst
        samples.append(sample)
        images.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
    return {'inputs': images, 'data_samples': samples}


class Timed:
    """One variant under test: its model, optimizer and samples."""

    def __init__(self, key, label, spec, args):
        from mmengine.optim import OptimWrapper

        from attnplug.analysis.build import build_model, load_config
        self.key, self.label, self.spec = key, label, spec
        cfg = load_config(config_path(spec))
        self.model = build_model(cfg, device=args.device)  # eval mode, SyncBN -> BN
        self.model.init_weights()
        self.optim = OptimWrapper(torch.optim.SGD(self.model.parameters(), lr=0.0))
        self.device = args.device
        self.clock = args.clock
        self.train_ms, self.infer_ms = [], []
        self.peak_mem = None

    def _sync(self):
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()

    def _timed(self, fn, record, into):
        self._sync()
        clock = time.process_time if self.clock == 'cpu' else time.perf_counter
        t0 = clock()
        fn()
        self._sync()
        if record:
            into.append(1e3 * (clock() - t0))

    def train_step(self, data, record):
        self.model.train()
        self._timed(lambda: self.model.train_step(data, self.optim), record, self.train_ms)

    def infer(self, data, record):
        self.model.eval()
        with torch.no_grad():
            self._timed(lambda: self.model.test_step(data), record, self.infer_ms)


def spread_pct(times) -> float:
    """(slowest - fastest) / median, in percent."""
    return 100 * (max(times) - min(times)) / statistics.median(times)


def write_outputs(rows, args, unsupported, header):
    """``<out>.csv`` (the header on its first line) and ``<out>.md``."""
    out_md, out_csv = args.out + '.md', args.out + '.csv'
    reporting.write_csv(out_csv, rows, COLUMNS, header)
    th, tw = args.size
    fh, fw = args.flops_size
    lines = [
        '# Attention plugins in Faster R-CNN R-50-FPN: parameters, FLOPs, time',
        '',
        '<!-- Written by tools/benchmark_det_plugins.py; rerun it rather than editing. -->',
        '',
    ] + reporting.header_markdown(header) + [
        f'- input: {th}x{tw} images with two boxes each; training steps of {args.train_batch} '
        f'images (mmdet\'s 2 per GPU), inference and FLOPs on 1; FLOPs also at {fh}x{fw}',
        f'- time: median of {args.repeat} runs after {args.warmup} warm-up runs, variants timed '
        'round robin; clock: ' + ('CPU time of the process (`time.process_time`)'
                                 if args.clock == 'cpu' else 'wall time'),
        '',
        f'| variant | placement | plugins | params (M) | Δ params | GFLOPs {th}x{tw} | '
        f'Δ GFLOPs | GFLOPs {fh}x{fw} | Δ GFLOPs | train step (ms) | spread | × | '
        'inference (ms) | spread | × |'
        + (' peak mem (MiB) |' if args.device.startswith('cuda') else ''),
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
        + ('---:|' if args.device.startswith('cuda') else ''),
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['placement']} | {r['plugins']} | {r['params_M']:.2f} | "
            f"{r['d_params']:+,} | {r['gflops_time_size']:.2f} | "
            f"{r['d_gflops_time_size']:+.3f} | {r['gflops_flops_size']:.1f} | "
            f"{r['d_gflops_flops_size']:+.2f} | {r['train_step_ms']:.0f} | "
            f"{r['train_spread_pct']:.0f}% | {r['train_x']:.2f} | {r['infer_ms']:.0f} | "
            f"{r['infer_spread_pct']:.0f}% | {r['infer_x']:.2f} |"
            + (f" {r['peak_mem_MiB']:.0f} |" if args.device.startswith('cuda') else ''))
    lines += [
        '',
        'What is counted:',
        '',
        '- **params**: every parameter of the detector (backbone, FPN, RPN and RoI heads).',
        '- **GFLOPs**: backbone + FPN only, the part the plugins change (the heads are the same in '
        'every variant). mmengine\'s `FlopAnalyzer` convention: one fused multiply-add is one '
        'FLOP; '
        'element-wise operations (activations, gating products, additions) are not counted. '
        'Attention computed by the fused `scaled_dot_product_attention` kernel is counted '
        '(`attnplug.analysis.flops`), like the same attention written as two matmuls.',
        '- **train step**: `model.train_step` with an SGD step at lr=0 (same weights every step): '
        'preprocessing, forward, RPN/RoI sampling, losses, backward. mmdet\'s recipe is kept: c2 '
        'frozen (`frozen_stages=1`), BN statistics frozen (`norm_eval=True`) except in the SK '
        'variant, whose SyncBN runs as BN in one process here.',
        '- **inference**: `model.test_step` without gradients: preprocessing, forward, NMS, boxes.',
        '- **spread**: (slowest - fastest) / median of the timed runs of that variant, a gauge of '
        'the noise of the machine during the run.',
        '- **×**: median time relative to the plain detector\'s median in the same run.',
    ]
    if unsupported:
        lines += ['', 'Operators the FLOP counter skipped (element-wise, pooling, indexing): '
                  + ', '.join(f'`{op}`' for op in sorted(unsupported)) + '.']
    reporting.write_text(out_md, lines)
    return out_md, out_csv


def run(args, command):
    """Build every variant of ``args`` (the options of ``tools/benchmark_det_plugins.py``),
    count, time round robin, and write the outputs; returns (markdown path, CSV path)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError('--device cuda: this torch has no CUDA device')
    if args.clock is None:
        args.clock = 'wall' if args.device.startswith('cuda') else 'cpu'
    elif args.clock == 'cpu' and args.device.startswith('cuda'):
        raise ValueError('--clock cpu measures the host, not the GPU: use --clock wall with '
                         '--device cuda')
    torch.manual_seed(0)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-parameter init report
    started = reporting.now()
    t_start = time.perf_counter()

    variants = [v for v in VARIANTS if v[0] == 'baseline' or not args.only or v[0] in args.only]
    print(f'building {len(variants)} detectors ...', flush=True)
    runs = [Timed(key, label, spec, args) for key, label, spec in variants]
    train_data = fake_data(tuple(args.size), args.train_batch)
    test_data = fake_data(tuple(args.size), 1)

    rows, unsupported = [], set()
    for run in runs:
        n_params = sum(p.numel() for p in run.model.parameters())
        g_time, skipped = backbone_neck_gflops(run.model, args.size, args.device)
        g_flops, skipped2 = backbone_neck_gflops(run.model, args.flops_size, args.device)
        unsupported |= set(skipped) | set(skipped2)
        where, count = placement(run.model)
        rows.append(dict(variant=run.label, placement=where, plugins=count,
                         params_M=n_params / 1e6, n_params=n_params,
                         gflops_time_size=g_time, gflops_flops_size=g_flops, config=run.spec))
        print(f'{run.label:>16}: {n_params / 1e6:.2f} M params, '
              f'{g_time:.2f} / {g_flops:.1f} GFLOPs', flush=True)

    for i in range(args.warmup + args.repeat):
        record = i >= args.warmup
        for run in runs:
            # CUDA: the peak of a train step and an inference above what is allocated before
            # them (models and data); the CPU resident set would mix all variants' models.
            probe = PeakMemoryProbe(args.device) if args.device.startswith('cuda') else None
            if probe is not None:
                probe.begin()
            run.train_step(train_data, record)
            run.infer(test_data, record)
            if probe is not None:
                run.peak_mem = max(run.peak_mem or 0, probe.end())
        print(f'round {i + 1}/{args.warmup + args.repeat} done', flush=True)

    base = rows[0]
    base_train = statistics.median(runs[0].train_ms)
    base_infer = statistics.median(runs[0].infer_ms)
    for row, run in zip(rows, runs):
        row['train_step_ms'] = statistics.median(run.train_ms)
        row['infer_ms'] = statistics.median(run.infer_ms)
        row['train_x'] = row['train_step_ms'] / base_train
        row['infer_x'] = row['infer_ms'] / base_infer
        row['d_params'] = row['n_params'] - base['n_params']
        row['train_spread_pct'] = spread_pct(run.train_ms)
        row['infer_spread_pct'] = spread_pct(run.infer_ms)
        row['d_gflops_time_size'] = row['gflops_time_size'] - base['gflops_time_size']
        row['d_gflops_flops_size'] = row['gflops_flops_size'] - base['gflops_flops_size']
        row['peak_mem_MiB'] = run.peak_mem
    header = reporting.run_header(
        command, args.device, started,
        wall_time_of_the_whole_run=f'{(time.perf_counter() - t_start) / 60:.1f} min')
    return write_outputs(rows, args, unsupported, header)
