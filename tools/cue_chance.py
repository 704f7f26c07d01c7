"""What the cue classes of the bundled Cityscapes score without the cue: the level of a lucky guess.

    python tools/cue_chance.py --data-root data/cityscapes --out docs/benchmarks/cue_chance
    python tools/cue_chance.py --data-root data/cityscapes --print p95   # just that value

A CLI over :mod:`benchmarks.cue` (the model of a cue-blind prediction is documented
there). Reads the val label maps, simulates cue-blind predictions for every class mix on a grid
of the simplex, and writes ``<out>.json`` and ``<out>.md``: the largest mean and the largest
50th, 95th and 99th percentiles over the mixes, with the date, device and command.
``tools/benchmark_bundled.sh`` passes the 95th percentile to ``tools/leaderboard.py
--seeds-above cue_classes_mIoU=VALUE``, so that the segmentation leaderboard counts the seeds
on which a model scored above what 95 % of the draws of any cue-blind guesser reach.
"""
import argparse
import json
import os
import os.path as osp
import sys

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', default='data/cityscapes',
                   help='a Cityscapes-layout dataset (default: data/cityscapes)')
    p.add_argument('--split', default='val')
    p.add_argument('--trials', type=int, default=20000, help='draws per class mix')
    p.add_argument('--steps', type=int, default=10,
                   help='grid steps per side of the simplex of class mixes')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help='write <out>.json and <out>.md')
    p.add_argument('--print', dest='show', choices=['mean', 'p50', 'p95', 'p99'],
                   help='print this level alone (for scripts)')
    args = p.parse_args(argv)
    if args.trials < 100:
        p.error('--trials must be >= 100')
    if args.steps < 1:
        p.error('--steps must be >= 1')
    if not args.out and not args.show:
        p.error('give --out and/or --print')
    return args


def render(result) -> list:
    from benchmarks import reporting
    lines = ['# Cue-class scores without the cue', '',
             '<!-- Written by tools/cue_chance.py; rerun it rather than editing. -->', '']
    lines += reporting.header_markdown(result['header'])
    data = result['data']
    lines += ['', f'{data["objects"]} objects of the cue classes ({", ".join(data["classes"])}) '
              f'in {data["images"]} {data["split"]} images of `{data["data_root"]}`; pixels per '
              'class: ' + ', '.join(f'{c} {n}' for c, n in zip(data['classes'],
                                                              data['pixels_per_class'])) + '.',
              '',
              'A cue-blind prediction segments every object perfectly and gives each object a '
              'class drawn independently of its true class, with probabilities p. Each level is '
              'the largest over the mixes p of the grid (with the p that reached it), over '
              f'{result["trials"]} draws per mix.', '']
    rows = [[k, f'{v["value"]:.2f}', ', '.join(f'{x:.1f}' for x in v['p'])]
            for k, v in result['levels'].items()]
    lines += reporting.markdown_table(['level', 'cue_classes_mIoU', 'p (' + ', '.join(
        data['classes']) + ')'], rows, 'lrl')
    return lines


def main(argv=None):
    from benchmarks import cue, reporting
    from benchmarks.bundled import CUE_CLASSES
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    try:
        pixels, classes, images = cue.cue_objects(args.data_root, args.split)
    except ValueError as err:
        raise SystemExit(f'tools/cue_chance.py: --data-root {args.data_root}: {err}') from err
    levels = cue.chance_levels(pixels, classes, args.trials, args.steps, seed=args.seed)
    if args.out:
        header = reporting.run_header(reporting.command_line('tools/cue_chance.py', raw), 'cpu')
        result = {
            'header': header, 'trials': args.trials, 'steps': args.steps, 'seed': args.seed,
            'data': {'data_root': args.data_root, 'split': args.split, 'images': images,
                     'objects': len(pixels), 'classes': list(CUE_CLASSES),
                     'pixels_per_class': [int(pixels[classes == k].sum())
                                          for k in range(len(CUE_CLASSES))]},
            'levels': levels}
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '.json', 'w') as f:
            json.dump(result, f, indent=1)
            f.write('\n')
        reporting.write_text(args.out + '.md', render(result))
        if not args.show:
            print(f'wrote {args.out}.json and .md: 95th percentile '
                  f'{levels["p95"]["value"]:.2f}')
    if args.show:
        print(f'{levels[args.show]["value"]:.2f}')


if __name__ == '__main__':
    main()
