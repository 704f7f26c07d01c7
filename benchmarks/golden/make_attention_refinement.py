"""Golden record of BiSeNet's attention refinement module from its authors' code
(tests/golden/README.md).

    python benchmarks/golden/make_attention_refinement.py --src /path/to/TorchSeg

``--src`` is a checkout of https://github.com/ycszen/TorchSeg at ``COMMIT`` (by BiSeNet's first
author, Changqian Yu). The module is ``furnace/seg_opr/seg_oprs.py:AttentionRefinement``
(a 3x3 ConvBnRelu, then global pooling, a 1x1 ConvBn without bias and a sigmoid).
"""
from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'ycszen/TorchSeg'
COMMIT = '62eeb159aee77972048d9d7688a28249d3c56735'
FILE = 'furnace/seg_opr/seg_oprs.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'attention_refinement.pt')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_seg_oprs')
    kwargs = dict(in_planes=32, out_planes=16)
    module = seed_weights(authors.AttentionRefinement(**kwargs))
    inputs = [seeded_input(2, 32, 11, 13)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='AttentionRefinement', sha256=digest,
            note='seeded weights N(0, 0.3²), BN statistics random; input randn seed 1',
            attnplug='AttentionRefinementModule(32, out_channels=16)',
            departures='a 3x3 conv + BN + ReLU before the attention (seg_oprs.py:196-198), '
                       "not in the paper's Fig. 2(b)"),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
