"""Golden record of coordinate attention from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_coord_attention.py --src /path/to/CoordAttention

``--src`` is a checkout of https://github.com/houqb/CoordAttention at ``COMMIT``. The module
is ``coordatt.py:CoordAtt(inp, oup)`` at the default ``reduction=32`` with ``oup = inp``, as
their MobileNetV2 builds it (``mbv2_ca.py:137``).
"""
from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'houqb/CoordAttention'
COMMIT = '7619bea9acbe260b3793833cc78cef3f124c8112'
FILE = 'coordatt.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'coord_attention.pt')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_coordatt')
    kwargs = dict(inp=32, oup=32, reduction=32)
    module = seed_weights(authors.CoordAtt(**kwargs))
    inputs = [seeded_input(2, 32, 11, 13)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='CoordAtt', sha256=digest,
            note='seeded weights N(0, 0.3²), BN statistics random; input randn seed 1',
            attnplug='CoordAttention()',
            departures="none in the maths; the hidden floor of 8 and F1's bias are the "
                       "code's (coordatt.py:28, 30)"),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
