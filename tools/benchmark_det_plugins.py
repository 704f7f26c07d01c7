"""Cost of each attention placement in Faster R-CNN R-50-FPN against the plain detector, one run.

    python tools/benchmark_det_plugins.py                          # CPU, 320x320, all variants
    python tools/benchmark_det_plugins.py --device cuda --size 800 1344 --repeat 20
    python tools/benchmark_det_plugins.py --only se cbam --out /tmp/det_plugins

A CLI over :mod:`benchmarks.det_plugin_cost` (what is counted and timed is documented
there): parameters, backbone + FPN FLOPs, and the time of a training step and of an inference,
each variant timed round robin against the plain detector. A cost benchmark: nothing is trained
(the detection training benchmark over seeds is ``tools/benchmark_learning.py --task det``).
Writes ``<out>.md`` and ``<out>.csv`` with the date, device, versions and command.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from benchmarks.det_plugin_cost import ROOT, VARIANTS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, nargs=2, default=[320, 320], metavar=('H', 'W'),
                   help='input of the timed steps and of the first FLOPs column')
    p.add_argument('--flops-size', type=int, nargs=2, default=[800, 1344], metavar=('H', 'W'),
                   help="second FLOPs column; default mmdet's test scale 1333x800 padded to 32")
    p.add_argument('--train-batch', type=int, default=2,
                   help="images per training step (mmdet's recipe: 2 per GPU)")
    p.add_argument('--repeat', type=int, default=3, help='timed runs per variant (median)')
    p.add_argument('--warmup', type=int, default=1, help='untimed runs per variant first')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:i]'")
    p.add_argument('--clock', choices=['cpu', 'wall'], default=None,
                   help="'cpu': the process's CPU time (time.process_time), which leaves out the "
                   "time spent waiting for a core on a shared machine; 'wall': elapsed time. "
                   "Default: 'cpu' on CPU, 'wall' on CUDA")
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch)')
    p.add_argument('--only', nargs='+', choices=[v[0] for v in VARIANTS[1:]],
                   help='plugin variants to run (the baseline always runs)')
    p.add_argument('--out', default=osp.join(ROOT, 'docs', 'benchmarks', 'det_plugins'),
                   help='output path without extension: <out>.md and <out>.csv')
    return p.parse_args(argv)


def main(argv=None):
    from benchmarks import det_plugin_cost, reporting
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    try:
        out_md, out_csv = det_plugin_cost.run(
            args, reporting.command_line('tools/benchmark_det_plugins.py', raw))
    except ValueError as err:
        raise SystemExit(f'tools/benchmark_det_plugins.py: {err}') from err
    with open(out_md) as f:
        print(f.read())
    print(f'wrote {out_md} and {out_csv}')


if __name__ == '__main__':
    main()
