"""Golden record of EMA (efficient multi-scale attention) from its authors' code
(tests/golden/README.md).

    python benchmarks/golden/make_efficient_multiscale_attention.py \\
        --src /path/to/EMA-attention-module \\
        --out tests/golden/authors/efficient_multiscale_attention.pt

``--src`` is a checkout of https://github.com/YOLOonMe/EMA-attention-module at ``COMMIT``; its
module is the file ``EMA_attention_module`` (no ``.py``), class ``EMA``, built with its default
``factor=32`` on 64 channels (2 channels per group).
"""
from golden_record import make_record, parse_args

REPO = 'YOLOonMe/EMA-attention-module'
COMMIT = 'afc37ecf52454c03421a86105fc5c16eb4ea1ad3'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT,
                      'tests/golden/authors/efficient_multiscale_attention.pt')
    make_record(args, repo=REPO, commit=COMMIT, file='EMA_attention_module', cls='EMA',
                kwargs=dict(channels=64, factor=32), shape=(2, 64, 23, 31),
                note='the repository\'s only module file; factor=32 is its default')
