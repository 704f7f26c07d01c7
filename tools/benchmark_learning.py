"""Train and test bundled configs over seeds on one schedule: the runs behind the leaderboards.

    python tools/benchmark_learning.py --task seg --seeds 0 1 2 --jobs 2 --reuse \\
        --schedule configs/_base_/schedules/schedule_1200iter.py
    python tools/benchmark_learning.py --task det --seeds 0 1 2 --jobs 2 --reuse \\
        --schedule configs/_base_/schedules/schedule_det_adamw-200iter_256x160.py
    python tools/benchmark_learning.py --iters 2 --seeds 0 --configs CONFIG [CONFIG ...]
    python tools/benchmark_learning.py --task seg --list   # the configs it would run

A CLI over :mod:`benchmarks.learning`. Every (config, seed) is trained with
``tools/train.py`` and tested with ``tools/test.py`` in its own subprocess, in
``<work-root>/<name>/seed<k>/`` (``randomness.seed=k``, deterministic algorithms). ``--schedule``
replaces each config's schedule by a file from ``configs/_base_/schedules/`` (the run's name
then carries the schedule's tag); ``--iters N`` instead shortens every schedule alike (a smoke
run: its numbers say nothing about the methods). Default configs: every
``configs/*/*cityscapes-bundled*.py`` (``--task seg``) or
``configs/*/faster-rcnn_r18*_coco-bundled.py`` (``--task det``), baselines first.

Writes ``<out>.csv`` and ``<out>.md``: one row per run (metrics, CPU time of training and
testing), with the date, device, versions, command and the wall time of the whole run, and
each finished run's row as ``<records>/<name>/seed<k>.json`` (default
``docs/benchmarks/runs/<task>/``). Those rows are committed: ``--reuse`` skips a run whose row
is there, so a long benchmark can be finished over several sessions, and
``tools/leaderboard.py`` builds the means, standard deviations and intervals from them.
``--jobs N`` runs N at a time, each with cores // N threads.
"""
import argparse
import os.path as osp
import sys
import time

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from benchmarks.learning import DEFAULT_GLOBS, ROOT
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--task', choices=sorted(DEFAULT_GLOBS), default='seg',
                   help='which bundled configs run by default (and the default --out)')
    p.add_argument('--configs', nargs='+', default=None, help='configs to run instead')
    p.add_argument('--seeds', type=int, nargs='+', default=[0], help='seeds (default: 0)')
    p.add_argument('--schedule', help='a schedule file that replaces each config\'s own')
    p.add_argument('--iters', type=int, default=None,
                   help='train every config for N iterations (schedule scaled alike)')
    p.add_argument('--work-root', default=None,
                   help='default: work_dirs/benchmark_<task>')
    p.add_argument('--out', default=None, help='output path without extension (default: '
                   'docs/benchmarks/learning_<task>_bundled)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='extra --cfg-options for every train and test run')
    p.add_argument('--no-deterministic', action='store_true',
                   help='do not set randomness.deterministic=True')
    p.add_argument('--reuse', action='store_true',
                   help='skip a run that already finished: its work dir holds a run.json and '
                   'a checkpoint, or --records holds its row')
    p.add_argument('--records', default=None,
                   help='folder keeping each finished run\'s row as <name>/seed<k>.json, to '
                   'commit and to build the leaderboard from (default: runs/<task> next to '
                   '--out)')
    p.add_argument('--jobs', type=int, default=1,
                   help='runs at a time, each with cores // jobs threads (default: 1)')
    p.add_argument('--list', action='store_true',
                   help='print the configs that would run, one per line, and exit')
    p.add_argument('--stop-after', type=float, default=None, metavar='MINUTES',
                   help='start no new run after this many minutes (runs in flight finish; the '
                   'rest are listed as not started, and a later call with --reuse goes on)')
    args = p.parse_args(argv)
    if args.stop_after is not None and args.stop_after < 0:
        p.error('--stop-after must be >= 0 minutes')
    if args.jobs < 1:
        p.error('--jobs must be >= 1')
    if args.iters is not None and args.iters < 1:
        p.error('--iters must be >= 1')
    if args.iters and args.schedule:
        p.error('--iters and --schedule exclude each other')
    if args.schedule and not osp.isfile(osp.join(ROOT, args.schedule)):
        p.error(f'--schedule: file not found: {args.schedule}')
    from benchmarks.learning import default_configs, rel
    args.configs = default_configs(args.task) if args.configs is None else \
        [rel(c) for c in args.configs]
    for c in args.configs:
        if not osp.isfile(osp.join(ROOT, c)):
            p.error(f'config not found: {c}')
    args.work_root = osp.abspath(args.work_root or osp.join(ROOT, 'work_dirs',
                                                            f'benchmark_{args.task}'))
    args.out = args.out or osp.join(ROOT, 'docs', 'benchmarks', f'learning_{args.task}_bundled')
    args.records = args.records or osp.join(osp.dirname(osp.abspath(args.out)), 'runs',
                                            args.task)
    return args


def main(argv=None):
    from benchmarks import learning, reporting
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    if args.list:
        print('\n'.join(args.configs))
        return 0
    started, t0 = reporting.now(), time.time()
    rows = learning.run_all(args.configs, args.seeds, args.work_root, schedule=args.schedule,
                            iters=args.iters, cfg_options=args.cfg_options, reuse=args.reuse,
                            deterministic=not args.no_deterministic, jobs=args.jobs,
                            records=args.records, start_by=learning.start_by(args.stop_after))
    schedule = (f'{args.iters} iterations for every config (--iters: a smoke run)' if args.iters
                else args.schedule or "each config's own")
    header = reporting.run_header(
        reporting.command_line('tools/benchmark_learning.py', raw), 'cpu', started,
        schedule=schedule, seeds=' '.join(map(str, args.seeds)),
        jobs=f'{args.jobs} run(s) at a time',
        runs=learning.sitting(rows), runs_made_on=learning.machines(rows),
        wall_time_of_this_sitting=f'{(time.time() - t0) / 60:.1f} min')
    learning.report(rows, args.out, header)
    print(f'wrote {args.out}.md and .csv, and the rows under {osp.relpath(args.records)}/; '
          f'summarise with: python tools/leaderboard.py {osp.relpath(args.records)}/*/ '
          '--out-dir DIR')
    return learning.exit_status(rows)


if __name__ == '__main__':
    sys.exit(main())
