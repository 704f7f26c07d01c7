"""Deployment benchmark: the exported ONNX graphs at whole-image size against attnplug's
PyTorch run (peak memory, latency, N×N check), and ``torch.compile`` against eager.

    python tools/benchmark_deploy.py                       # DANet + NL at 1024x2048, compile
    python tools/benchmark_deploy.py --configs configs/danet/...py --skip-compile
    python tools/benchmark_deploy.py --shape 256 512 --compile-shape 64 128   # quick
    python tools/benchmark_deploy.py --render docs/benchmarks/deploy_cpu.json  # nothing run

A CLI over :mod:`benchmarks.deploy_benchmark` (what is measured and how is documented there).
Writes ``<out>.json``, ``<out>.csv`` and ``<out>.md``; ``--render JSON`` re-renders the .md and
.csv from a JSON it wrote.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    from benchmarks.deploy_benchmark import DEFAULT_CONFIGS
    p = argparse.ArgumentParser(description='ONNX / torch.compile deployment benchmark')
    p.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS)
    p.add_argument('--shape', type=int, nargs=2, default=(1024, 2048), metavar=('H', 'W'))
    p.add_argument('--loops', nargs='+', default=['scan', 'unroll'],
                   help="graph forms to export; memory is measured for the first")
    p.add_argument('--compile-shape', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'))
    p.add_argument('--compile-configs', nargs='+', default=None,
                   help='configs to torch.compile (default: --configs)')
    p.add_argument('--skip-compile', action='store_true')
    p.add_argument('--skip-dynamic', action='store_true',
                   help='skip the dynamic-shape export checked at two sizes (at --compile-shape '
                        'and at about twice it)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'benchmarks', 'deploy_cpu'))
    p.add_argument('--render', metavar='JSON',
                   help='only re-render --out .md/.csv from a JSON this tool wrote')
    return p.parse_args(argv)


def main(argv=None):
    from benchmarks import deploy_benchmark
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.render:
        deploy_benchmark.render(args.render, args.out)
        print(f're-rendered {args.out}.md/.csv from {args.render}')
        return 0
    return deploy_benchmark.run(args, argv)


if __name__ == '__main__':
    sys.exit(main())
