"""Where should attention go? A placement sweep over one base config, run over seeds.

    python tools/sweep.py BASE_CONFIG --modules CBAM SqueezeExcitation \\
        --stages 0011 0111 1111 --positions after_conv1 after_conv2 \\
        --seeds 0 1 2 --schedule configs/_base_/schedules/schedule_1200iter.py \\
        --out-dir docs/leaderboard/sweep-cbam-se
    python tools/sweep.py BASE_CONFIG --modules CBAM --stages 0011 --positions after_conv2 \\
        --dry-run                                # write the configs, load and build each
    python tools/sweep.py BASE_CONFIG --modules NonLocal2d --after layer3.1 'layer3.*' \\
        --seeds 0 1 2                            # per-block placement, any backbone

A CLI over :mod:`benchmarks.sweep` (the grid, the delta configs) and
:mod:`benchmarks.learning` (training and testing each config per seed, the base config
included as the baseline), then :mod:`benchmarks.leaderboard` (means, standard
deviations, 95% intervals against the base) and ``grid.md``, the leaderboard pivoted into the
grid (module and stage set × placement, Δ to the base with its interval).

The grid is module × stages × position; each point is a short config inheriting BASE_CONFIG,
written to ``--config-dir`` (commit it with the results: each run's row under
``<out-dir>/runs/`` names its config). ``--after`` adds module × module-path pattern points
through ``attnplug.WithPlugins``, for any backbone (MiT, Swin, CSPNeXt, ... as well as ResNet).
"""
import argparse
import os.path as osp
import sys
import time

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('base_config')
    p.add_argument('--modules', nargs='+', required=True,
                   help='attnplug plugin names (registered, built as cls(in_channels=C))')
    p.add_argument('--stages', nargs='+', default=[],
                   help="stage sets as 0/1 strings, one character per stage, e.g. 0111 "
                        '(with --positions)')
    p.add_argument('--positions', nargs='*', default=[],
                   help='after_conv1 / after_conv2 / after_conv3 / after_stage')
    p.add_argument('--after', nargs='*', default=[],
                   help="backbone module-path patterns, e.g. 'layer3.5' 'layers.[1-3].1.*' "
                        '(through attnplug.WithPlugins; any backbone)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--schedule', help='schedule file replacing the configs\' own')
    p.add_argument('--iters', type=int, help='shorten every schedule to N iterations')
    p.add_argument('--config-dir', default=None,
                   help='where the delta configs go (default: work_dirs/sweep/<base>/configs)')
    p.add_argument('--work-root', default=None, help='default: work_dirs/sweep/<base>')
    p.add_argument('--out-dir', default=None,
                   help='leaderboard of the sweep (default: <work-root>/leaderboard)')
    p.add_argument('--shape', type=int, nargs=2, help='H W of the measured input')
    p.add_argument('--jobs', type=int, default=1,
                   help='runs at a time, each with cores // jobs threads (default: 1)')
    p.add_argument('--reuse', action='store_true',
                   help='skip a run whose row is already under <out-dir>/runs/')
    p.add_argument('--dry-run', action='store_true',
                   help='write the configs, load and build each, run nothing')
    p.add_argument('--stop-after', type=float, default=None, metavar='MINUTES',
                   help='start no new run after this many minutes (runs in flight finish; the '
                   'rest are listed as not started, and a later call with --reuse goes on)')
    args = p.parse_args(argv)
    if args.stop_after is not None and args.stop_after < 0:
        p.error('--stop-after must be >= 0 minutes')
    if not args.positions and not args.after:
        p.error('give --positions and/or --after')
    base = osp.splitext(osp.basename(args.base_config))[0]
    args.work_root = osp.abspath(args.work_root or osp.join('work_dirs', 'sweep', base))
    args.config_dir = args.config_dir or osp.join(args.work_root, 'configs')
    args.out_dir = args.out_dir or osp.join(args.work_root, 'leaderboard')
    return args


def main(argv=None):
    from benchmarks import learning, reporting
    from benchmarks import sweep as sw
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    placements = {k: v for k, v in (('position', args.positions), ('after', args.after)) if v}
    try:
        points = sw.expand(args.base_config, args.modules, args.stages, placements)
    except ValueError as err:
        raise SystemExit(f'tools/sweep.py: {err}') from err
    paths = sw.write_configs(args.base_config, points, args.config_dir)
    print(f'{len(paths)} sweep configs in {args.config_dir}')
    if args.dry_run:
        from attnplug.analysis.build import build_model, load_config
        for path in paths:
            model = build_model(load_config(path))
            n = sum(1 for m in model.modules() if type(m).__name__ in args.modules)
            print(f'  {osp.basename(path)}: builds, {n} plugin module(s)')
        return paths
    started, t0 = reporting.now(), time.time()
    configs = [args.base_config] + paths
    records = osp.join(args.out_dir, 'runs')
    rows = learning.run_all(configs, args.seeds, args.work_root, schedule=args.schedule,
                            iters=args.iters, baseline=args.base_config, jobs=args.jobs,
                            records=records, reuse=args.reuse,
                            start_by=learning.start_by(args.stop_after))
    header = reporting.run_header(
        reporting.command_line('tools/sweep.py', raw), 'cpu', started,
        seeds=' '.join(map(str, args.seeds)),
        runs=learning.sitting(rows), runs_made_on=learning.machines(rows),
        wall_time_of_this_sitting=f'{(time.time() - t0) / 60:.1f} min')
    learning.report(rows, osp.join(args.out_dir, 'runs'), header)
    from benchmarks import leaderboard as lb
    runs = lb.collect_runs([learning.record_path(records, r['name'], r['seed']) for r in rows
                            if not r.get('error')])
    lb.write(runs, args.out_dir, reporting.command_line('tools/sweep.py', raw),
             baseline=learning.scheduled_name(args.base_config, args.schedule),
             shape=args.shape)
    sw.write_grid(args.out_dir, metrics=('cue_classes_mIoU', ))
    print(f'sweep leaderboard: {args.out_dir}/leaderboard.md, the grid: {args.out_dir}/grid.md')
    return rows


if __name__ == '__main__':
    result = main()
    if result and isinstance(result[0], dict):  # not a --dry-run
        from benchmarks.learning import exit_status
        sys.exit(exit_status(result))
