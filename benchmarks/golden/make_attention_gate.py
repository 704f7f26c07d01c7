"""Golden record of the Attention U-Net gate from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_attention_gate.py --src /path/to/Attention-Gated-Networks

``--src`` is a checkout of https://github.com/ozan-oktay/Attention-Gated-Networks at ``COMMIT``.
The module is ``models/layers/grid_attention_layer.py:GridAttentionBlock2D`` in its
``'concatenation'`` mode, the gate of their Attention U-Nets (which use the 3D twin,
``GridAttentionBlock3D``, with ``sub_sample_factor=(2, 2, 2)``: ``models/networks/
unet_grid_attention_3D.py:37-42``); in 2D the factor is ``(2, 2)`` (the class's default
``(2, 2, 2)`` gives a 3D kernel that a 2D conv refuses). Its ``init_weights`` comes from their
``models/networks_other.py`` (imported as is). The skip is 2x16x11x13 and the gating signal
2x32x6x7; the record holds the gated output ``W_y`` (the first of the two outputs).
"""
from _golden import (load_file, parse_args, run_modes, seed_weights, seeded_input, stub_module,
                     write_record)

REPO = 'ozan-oktay/Attention-Gated-Networks'
COMMIT = 'eee4881fdc31920efd873773e0b744df8dacbfb6'
FILE = 'models/layers/grid_attention_layer.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'attention_gate.pt')
    package = stub_module('models')
    package.__path__ = []
    others, _ = load_file(args.src, COMMIT, 'models/networks_other.py', 'models.networks_other',
                          stubs={'models': package})
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_grid_attention',
                                stubs={'models': package, 'models.networks_other': others})
    kwargs = dict(in_channels=16, gating_channels=32, inter_channels=8, mode='concatenation',
                  sub_sample_factor=(2, 2))
    module = seed_weights(authors.GridAttentionBlock2D(**kwargs))
    inputs = [seeded_input(2, 16, 11, 13, seed=1), seeded_input(2, 32, 6, 7, seed=2)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='GridAttentionBlock2D', sha256=digest,
            note="mode='concatenation', sub_sample_factor=(2, 2) (the 2D form of their "
                 "U-Nets' (2, 2, 2)); output W_y; seeded weights N(0, 0.3²), BN statistics "
                 'random; inputs randn seeds 1, 2',
            attnplug="AttentionGate(variant='authors')",
            departures='strided 2x2 theta, alpha at half resolution and resized back '
                       '(grid_attention_layer.py:53-54, 96, 103); output transform W = '
                       'conv1x1 + BN (lines 47-50, 105)'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs, pick=lambda out: out[0]))
