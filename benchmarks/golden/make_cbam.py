"""Golden record of CBAM from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_cbam.py --src /path/to/attention-module

``--src`` is a checkout of https://github.com/Jongchan/attention-module at ``COMMIT``. The
module is ``MODELS/cbam.py:CBAM`` as their ResNets build it (``CBAM(planes * 4, 16)``, the
default pools ``['avg', 'max']``, with the spatial gate). Its spatial BN makes train and
eval outputs differ; both are recorded.
"""
from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'Jongchan/attention-module'
COMMIT = '459efad0e05ee7dde50c41ca10a3d0800bc3792a'
FILE = 'MODELS/cbam.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'cbam.pt')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_cbam')
    kwargs = dict(gate_channels=32, reduction_ratio=16)
    module = seed_weights(authors.CBAM(**kwargs))
    inputs = [seeded_input(2, 32, 11, 13)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='CBAM', sha256=digest,
            note='as built by MODELS/model_resnet.py:70 (CBAM(planes * 4, 16)); seeded weights '
                 'N(0, 0.3²), BN statistics random; input randn seed 1',
            attnplug="CBAM(variant='authors')",
            departures='BN after the 7x7 spatial conv (cbam.py:77, 11; weight zeroed at init, '
                       'model_resnet.py:134-136); pooled channels (max, mean) (cbam.py:70)'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
