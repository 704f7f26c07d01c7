"""Golden record of shuffle attention (SA-Net) from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_shuffle_attention.py --src /path/to/SA-Net \\
        --out tests/golden/authors/shuffle_attention.pt

``--src`` is a checkout of https://github.com/wofmanaf/SA-Net at ``COMMIT``; the module is
``sa_layer`` of ``models/sa_resnet.py``. That file imports ``utils.load_state_dict`` from the
repository root, which is therefore put on ``sys.path``. The official ``groups=64`` needs
``C >= 128``; on the 64-channel input the layer is built with ``groups=8`` (4 channels in each
half-group).
"""
import sys

from golden_record import make_record, parse_args

REPO = 'wofmanaf/SA-Net'
COMMIT = '00a676085e2ad12f3e2053109ece4840de6a5ce1'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'tests/golden/authors/shuffle_attention.pt')
    sys.path.insert(0, args.src)  # 'from utils import load_state_dict' in sa_resnet.py
    make_record(args, repo=REPO, commit=COMMIT, file='models/sa_resnet.py', cls='sa_layer',
                kwargs=dict(channel=64, groups=8), shape=(2, 64, 23, 31),
                note='models/sa_resnet.py (the mmdetection/ copy has the same sa_layer)')
