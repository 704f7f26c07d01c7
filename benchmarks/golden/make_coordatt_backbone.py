"""Golden record of the coordinate-attention authors' MobileNetV2 (``mbv2_ca.py``, ``MBV2_CA``,
width 1.0, as released in ``mbv2_ca.pth``) for tools/model_converters/coordatt2attnplug.py.

    python benchmarks/golden/make_coordatt_backbone.py --src PATH/TO/houqb/CoordAttention \
        --out tests/golden/authors/backbones/coordatt.pt
"""
import argparse
from pathlib import Path

from _backbone_record import commit_of, import_file, record, save

KWARGS = dict(num_classes=1000, width_mult=1.)
#: The last block of each of the seven stages in ``features`` (mmseg's layer1..layer7).
STAGE_ENDS = (1, 3, 6, 10, 13, 16, 17)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--src', required=True, help='checkout of github.com/houqb/CoordAttention')
    parser.add_argument('--commit', help='its commit, if --src is not a git checkout')
    parser.add_argument('--out', default='tests/golden/authors/backbones/coordatt.pt')
    args = parser.parse_args()
    src = Path(args.src)
    mbv2_ca = import_file(src / 'mbv2_ca.py', 'mbv2_ca')
    model = mbv2_ca.mbv2_ca(**KWARGS)
    stages = [model.features[i] for i in STAGE_ENDS]
    prov = dict(repo='houqb/CoordAttention', commit=args.commit or commit_of(src),
                file='mbv2_ca.py', cls='MBV2_CA (mbv2_ca)')
    save(record(model, stages, prov, KWARGS,
                note='outputs of the seven stages (features 1, 3, 6, 10, 13, 16, 17; eval); '
                     'ImageNet size, seeded weights'),
         args.out)


if __name__ == '__main__':
    main()
