"""Golden records of GCT (gated channel transformation) from its authors' code
(tests/golden/README.md).

    python benchmarks/golden/make_gated_channel_transformation.py --src /path/to/GCT \\
        --out tests/golden/authors/gated_channel_transformation.pt

``--src`` is a checkout of https://github.com/z-x-yang/GCT at ``COMMIT``; the module is ``GCT``
of ``PyTorch/GCT.py``. Two records: the default ``mode='l2'`` (``--out``) and ``mode='l1'``
(``--out`` with ``-l1`` before ``.pt``). The weights are random, not the paper's identity init.
"""
from golden_record import make_record, parse_args

REPO = 'z-x-yang/GCT'
COMMIT = '68983edd87f8cfbe709b1b51214c69eb9c81abd7'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT,
                      'tests/golden/authors/gated_channel_transformation.pt')
    make_record(args, repo=REPO, commit=COMMIT, file='PyTorch/GCT.py', cls='GCT',
                kwargs=dict(num_channels=64, mode='l2'), shape=(2, 64, 23, 31),
                note='PyTorch/GCT.py, the default l2 mode')
    args.out = args.out.replace('.pt', '-l1.pt')
    make_record(args, repo=REPO, commit=COMMIT, file='PyTorch/GCT.py', cls='GCT',
                kwargs=dict(num_channels=64, mode='l1'), shape=(2, 64, 23, 31),
                note='PyTorch/GCT.py, the l1 mode (after_relu=False)')
