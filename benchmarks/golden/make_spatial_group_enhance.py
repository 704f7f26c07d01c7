"""Golden record of SGE (spatial group-wise enhance) from its authors' code
(tests/golden/README.md).

    python benchmarks/golden/make_spatial_group_enhance.py --src /path/to/PytorchInsight \\
        --out tests/golden/authors/spatial_group_enhance.pt

``--src`` is a checkout of https://github.com/implus/PytorchInsight at ``COMMIT``; the module is
``SpatialGroupEnhance`` of ``classification/models/imagenet/resnet_sge.py``, imported as part of
a package made from its folder (it starts with ``from .common_head import *``). Built with the
official ``groups=64`` on 64 channels, one channel per group, and with ``groups=8`` for the
``-g8`` record (8 channels per group).
"""
from golden_record import make_record, parse_args

REPO = 'implus/PytorchInsight'
COMMIT = '2864528f8b83f52c3df76f7c3804aa468b91e5cf'
FILE = 'classification/models/imagenet/resnet_sge.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'tests/golden/authors/spatial_group_enhance.pt')
    make_record(args, repo=REPO, commit=COMMIT, file=FILE, cls='SpatialGroupEnhance',
                kwargs=dict(groups=64), shape=(2, 64, 23, 31), package='authors_sge',
                note='classification/models/imagenet/resnet_sge.py, the official groups=64')
    args.out = args.out.replace('.pt', '-g8.pt')
    make_record(args, repo=REPO, commit=COMMIT, file=FILE, cls='SpatialGroupEnhance',
                kwargs=dict(groups=8), shape=(2, 64, 23, 31), package='authors_sge',
                note='classification/models/imagenet/resnet_sge.py, groups=8')
