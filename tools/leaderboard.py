"""Collect trained work dirs into a leaderboard (seeds grouped, 95% intervals against the
baseline) and an OpenMMLab model index.

    python tools/leaderboard.py WORK_DIR [WORK_DIR ...] --out-dir DIR [--baseline NAME]
        [--metric mIoU] [--shape H W] [--published FILE.yml] [--no-measure]
        [--seeds-above METRIC=VALUE ...]
    python tools/leaderboard.py --render DIR/leaderboard.csv     # re-render .md and .png only
    python tools/leaderboard.py WORK_DIR ... --costs-from DIR/leaderboard.csv  # nothing timed

A CLI over :mod:`benchmarks.leaderboard` (what is computed and how is documented there).
A WORK_DIR is one run, or a folder of ``seed*/`` runs as ``tools/benchmark_learning.py`` lays
them out. Runs of one config (one per seed) form one row: mean ± std and n per metric, and the
difference to the baseline with a 95% Welch t interval; an interval containing 0 is marked not
significant. A baseline that did not learn on every seed (thresholds in
``benchmarks.bundled.LEARNED_THRESHOLDS``) is said so, and nothing is ranked against
it. Published numbers enter only from ``--published`` (each entry ``published: true`` with a
``source``) and stay in their own table.

Writes ``leaderboard.md``, ``leaderboard.csv`` (with the date, device, versions and command on
its first line), ``leaderboard.png``, ``metafile.yml`` and ``model-index.yml``.
"""
import argparse
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from benchmarks.leaderboard import METRIC_KEYS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dirs', nargs='*')
    p.add_argument('--out-dir', default='docs/leaderboard')
    p.add_argument('--baseline', help='name of the baseline config (default: what each run\'s '
                   'run.json names)')
    p.add_argument('--metric', help='the ranking metric (default: the first found of '
                   f'{", ".join(METRIC_KEYS)})')
    p.add_argument('--published', help='YAML of published numbers (each with a source)')
    p.add_argument('--shape', type=int, nargs=2, help='H W of the measured input')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-measure', action='store_true', help='skip params/FLOPs/time/memory')
    p.add_argument('--seeds-above', nargs='+', default=[], metavar='METRIC=VALUE',
                   help='count, per row, the seeds whose METRIC is above VALUE (k/n): for a '
                   'metric whose mean hides that some seeds learned and others did not')
    p.add_argument('--render', metavar='CSV', help='only re-render the .md and .png of CSV')
    p.add_argument('--costs-from', metavar='CSV',
                   help='take params/FLOPs/time/memory (and the header saying where they were '
                   'measured) from this earlier leaderboard.csv instead of measuring: rebuilds '
                   'a committed leaderboard from its run rows without timing anything')
    args = p.parse_args(argv)
    above = {}
    for item in args.seeds_above:
        metric, sep, value = item.rpartition('=')
        try:
            above[metric] = float(value)
        except ValueError:
            sep = ''
        if not sep or not metric:
            p.error(f'--seeds-above {item!r}: expected METRIC=VALUE with a number')
    args.seeds_above = above
    return args


def main(argv=None):
    from benchmarks import leaderboard as lb
    from benchmarks import reporting
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    if args.render:
        out = osp.dirname(args.render)
        reporting.write_text(osp.join(out, 'leaderboard.md'), lb.render_markdown(args.render))
        lb.render_plot(args.render, osp.join(out, 'leaderboard.png'))
        print(f're-rendered {out}/leaderboard.md and .png from {args.render}')
        return None
    if argv is None and not (args.no_measure or args.costs_from):
        from benchmarks.relaunch import reexec_with_mmap_threshold
        reexec_with_mmap_threshold(__file__, raw)  # CPU peak memory (see profiling.py)
    try:
        published = lb.load_published(args.published) if args.published else []
    except ValueError as err:
        raise SystemExit(f'tools/leaderboard.py: {err}') from err
    runs = lb.collect_runs(lb.expand_work_dirs(args.work_dirs))
    if not runs and not published:
        raise SystemExit('tools/leaderboard.py: nothing to list: give work dirs and/or '
                         '--published')
    try:
        groups = lb.write(runs, args.out_dir,
                          reporting.command_line('tools/leaderboard.py', raw), args.metric,
                          args.baseline, published, args.shape, args.device,
                          not args.no_measure, above=args.seeds_above,
                          costs_csv=args.costs_from)
    except ValueError as err:
        raise SystemExit(f'tools/leaderboard.py: {err}') from err
    print(f'{len(groups)} configs from {len(runs)} runs -> {args.out_dir}/leaderboard.md, '
          '.csv, .png, metafile.yml, model-index.yml')
    return groups


if __name__ == '__main__':
    main()
