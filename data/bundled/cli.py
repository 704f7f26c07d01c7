"""Generate small synthetic datasets in the exact layouts of Cityscapes, PASCAL VOC and COCO.

The command line of ``python data/generate.py``.
"""
import argparse
import sys

from .check import check
from .labels import DATASETS
from .writers import generate

# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data', help='output root (default: data)')
    parser.add_argument('--datasets', nargs='+', choices=DATASETS, default=list(DATASETS))
    parser.add_argument('--num-train', type=int, default=48, help='train images per dataset (48)')
    parser.add_argument('--num-val', type=int, default=16, help='val/test images per dataset (16)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if up to date; replace directories not made by this script')
    parser.add_argument('--check', action='store_true', help='validate the datasets under --root and exit')
    args = parser.parse_args(argv)
    if args.check:
        errors = check(args.root, args.datasets)
        for line in errors[:200]:
            print(line)
        if len(errors) > 200:
            print(f'... and {len(errors) - 200} more problems')
        print(f'{len(errors)} problem(s) in {", ".join(args.datasets)} under {args.root}' if errors
              else f'{", ".join(args.datasets)} under {args.root}: OK')
        return 1 if errors else 0
    try:
        generate(args.root, args.datasets, args.num_train, args.num_val, args.seed, args.force)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
