"""Golden record of scSE from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_scse.py --src /path/to/squeeze_and_excitation

``--src`` is a checkout of https://github.com/ai-med/squeeze_and_excitation at ``COMMIT``.
The module is ``squeeze_and_excitation/squeeze_and_excitation.py:ChannelSpatialSELayer`` at
its default ``reduction_ratio=2``. It has no BN, so train and eval agree; both are recorded.
"""
from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'ai-med/squeeze_and_excitation'
COMMIT = 'acdd26e7e3956b8e3d3b32663a784ebd64c844dd'
FILE = 'squeeze_and_excitation/squeeze_and_excitation.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'scse.pt')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_scse')
    kwargs = dict(num_channels=32, reduction_ratio=2)
    module = seed_weights(authors.ChannelSpatialSELayer(**kwargs))
    inputs = [seeded_input(2, 32, 11, 13)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='ChannelSpatialSELayer', sha256=digest,
            note='seeded weights N(0, 0.3²); input randn seed 1',
            attnplug="SCSE(fusion='max')",
            departures='fuses cSE and sSE by maximum, torch.max (squeeze_and_excitation.py:'
                       '123); the MICCAI paper adds'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
