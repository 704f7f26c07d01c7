"""Whole-image inference of attnplug's attention decode heads against mmseg's (not a test).

    python tools/benchmark_heads.py                         # DA, NL, CC at 1x2048x128x256, CPU
    python tools/benchmark_heads.py --heads da --tune-budgets 32 64 128 512
    python tools/benchmark_heads.py --quick                 # 64x128 features
    python tools/benchmark_heads.py --device cuda --dtype bf16

A CLI over :mod:`benchmarks.head_benchmark` (what is measured and how is documented
there): every case in its own subprocess, mmseg's head and attnplug's with the same weights,
peak memory, CPU time (CPU) or latency (CUDA), and the largest difference of the outputs.
Writes ``<out>.md`` and ``<out>.csv``.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from benchmarks.head_benchmark import HEADS, ROOT
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
    p.add_argument('--save-outputs', metavar='DIR',
                   help='keep every case\'s last output in DIR (named in the CSV)')
    args = p.parse_args(argv)
    if args.size is None:
        args.size = [64, 128] if args.quick else [128, 256]
    if args.out is None:
        tag = args.device.split(':')[0] + ('_quick' if args.quick else '')
        args.out = osp.join(ROOT, 'docs', 'benchmarks', f'heads_{tag}')
    return args


def main(argv=None):
    from benchmarks import head_benchmark, reporting
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    head_benchmark.run(args, reporting.command_line('tools/benchmark_heads.py', raw))
    with open(args.out + '.md') as f:
        print(f.read())


if __name__ == '__main__':
    main()
