"""What the bundled benchmark costs, from its committed run rows.

    python tools/benchmark_cost.py seg=docs/benchmarks/runs/seg det=docs/benchmarks/runs/det \\
        sweep=docs/leaderboard/sweep-fcn-r18-cbam-se-cityscapes-bundled/runs \\
        --planned seg=33 det=36 sweep=27 --jobs 2 --out docs/benchmarks/benchmark_bundled_cost

A CLI over :func:`benchmarks.learning.cost_summary`. The benchmark is finished over
several sittings, so the wall time of one sitting says little; this sums what every committed
run took (CPU hours of training and testing, wall hours), estimates what the missing runs of
each part need from that part's mean, and says how long the whole benchmark takes on this
machine at ``--jobs`` runs at a time. Writes ``<out>.csv`` and ``<out>.md`` with the date,
device and command; ``docs/benchmarks/README.md`` shows the table as a generated block.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def _pairs(items, what, cast=str):
    out = {}
    for item in items:
        name, sep, value = item.partition('=')
        if not sep or not name or not value:
            raise SystemExit(f'benchmark_cost.py: {what} {item!r}: expected NAME=VALUE')
        try:
            out[name] = cast(value)
        except ValueError:
            raise SystemExit(f'benchmark_cost.py: {what} {item!r}: {value!r} is not a '
                             'whole number') from None
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('parts', nargs='+', metavar='PART=FOLDER',
                   help='a part of the benchmark and the folder of its run rows')
    p.add_argument('--planned', nargs='+', default=[], metavar='PART=N',
                   help='how many runs each part has in all')
    p.add_argument('--jobs', type=int, default=2, help='runs at a time (default: 2)')
    p.add_argument('--out', default='docs/benchmarks/benchmark_bundled_cost',
                   help='output path without extension')
    args = p.parse_args(argv)
    args.parts = _pairs(args.parts, 'part')
    args.planned = _pairs(args.planned, '--planned', int)
    unknown = sorted(set(args.planned) - set(args.parts))
    if unknown:
        p.error(f'--planned names parts that are not given: {", ".join(unknown)}')
    if args.jobs < 1:
        p.error('--jobs must be >= 1')
    return args


def main(argv=None):
    from benchmarks import learning, reporting
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    rows = learning.cost_summary(args.parts, args.planned)
    header = reporting.run_header(reporting.command_line('tools/benchmark_cost.py', raw), 'cpu')
    learning.cost_report(rows, args.out, header, args.jobs)
    print(f'wrote {args.out}.md and .csv')
    return 0


if __name__ == '__main__':
    sys.exit(main())
