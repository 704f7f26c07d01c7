"""Golden record of triplet attention from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_triplet_attention.py --src /path/to/triplet-attention \\
        --out tests/golden/authors/triplet_attention.pt

``--src`` is a checkout of https://github.com/LandskapeAI/triplet-attention at ``COMMIT``. The
module is the root ``triplet_attention.py``, which the README names as the latest code (the
copy in ``MODELS/`` is the older one, with other key names). Its BN makes train and eval
outputs differ; both are recorded.
"""
from golden_record import make_record, parse_args

REPO = 'LandskapeAI/triplet-attention'
COMMIT = 'f07524e45db5eea1357c50316f30ab99a292d2f9'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'tests/golden/authors/triplet_attention.pt')
    make_record(args, repo=REPO, commit=COMMIT, file='triplet_attention.py',
                cls='TripletAttention', kwargs=dict(no_spatial=False), shape=(2, 64, 23, 31),
                note='root triplet_attention.py, the latest module code per the README')
