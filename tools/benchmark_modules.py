"""Latency and peak memory of every attnplug module next to OpenMMLab's implementations.

    python tools/benchmark_modules.py --quick                  # a CPU subset, a few minutes
    python tools/benchmark_modules.py                          # the full grid (meant for a GPU)
    python tools/benchmark_modules.py --families NonLocal2d PositionAttention --channels 512 \\
        --sizes 97x97 --modes fwd fwd+bwd --dtypes fp32 bf16 --devices cuda
    python tools/benchmark_modules.py --from-csv docs/benchmarks/modules_quick-cpu.csv

A CLI over :mod:`benchmarks.module_benchmark`: every layer registered in attnplug's
registry (a new ``attnplug/layers/<x>.py`` with its registration line appears without an edit
here), next to its mmcv / mmseg / mmdet reference where one exists. Writes
``<out-dir>/modules_<tag>.md``, ``.csv`` and ``.png`` with the date, device, versions and command.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='the CPU subset (see QUICK)')
    p.add_argument('--families', nargs='+',
                   help='only these attnplug layers (e.g. PositionAttention NonLocal2d)')
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
    p.add_argument('--clock', choices=('cpu', 'wall'), default='cpu',
                   help="CPU timings: 'cpu' = CPU time of the process (default: a shared "
                   "machine's other jobs barely change it), 'wall' = elapsed time. CUDA: wall")
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
    from benchmarks import module_benchmark, reporting
    raw = sys.argv[1:] if argv is None else argv
    if argv is None:
        # See attnplug.analysis.profiling: make the resident set follow the live tensors.
        from benchmarks.relaunch import reexec_with_mmap_threshold
        reexec_with_mmap_threshold(__file__, raw)
    args = parse_args(raw)
    try:
        return module_benchmark.run(args,
                                    reporting.command_line('tools/benchmark_modules.py', raw))
    except ValueError as err:
        raise SystemExit(f'tools/benchmark_modules.py: {err}') from err


if __name__ == '__main__':
    main()
