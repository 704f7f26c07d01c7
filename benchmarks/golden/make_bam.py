"""Golden record of BAM from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_bam.py --src /path/to/attention-module

``--src`` is a checkout of https://github.com/Jongchan/attention-module at ``COMMIT``. The
module is ``MODELS/bam.py:BAM`` (``BAM(gate_channel)``, as ``MODELS/model_resnet.py:115-118``
builds it). As released it cannot be built: ``ChannelGate.__init__`` reads the undefined name
``gate_activation`` (``bam.py:12``) into an attribute nothing uses, so this script defines that
name (as None) in the module's namespace; the code itself is unchanged. The input is 11x13
(H <= W < 2H), where their ``H x H`` pooling window covers the left 11x11 square.
"""
from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'Jongchan/attention-module'
COMMIT = '459efad0e05ee7dde50c41ca10a3d0800bc3792a'
FILE = 'MODELS/bam.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'bam.pt')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_bam',
                                globals_=dict(gate_activation=None))
    kwargs = dict(gate_channel=32)
    module = seed_weights(authors.BAM(**kwargs))
    inputs = [seeded_input(2, 32, 11, 13)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='BAM', sha256=digest,
            note='the undefined name gate_activation (bam.py:12) is set to None before '
                 'building; seeded weights N(0, 0.3²), BN statistics random; input randn '
                 'seed 1, 11x13 (H <= W < 2H)',
            attnplug="BAM(variant='authors')",
            departures='F * (1 + sigmoid(Mc * Ms)), no gain (bam.py:48-49); no final BNs '
                       '(bam.py:22, 39); biases on every conv; channel pooling over an HxH '
                       'window (bam.py:24)'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
