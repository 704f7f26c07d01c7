"""Golden records of DANet's position and channel attention from the authors' code
(tests/golden/README.md).

    python benchmarks/golden/make_danet.py --src /path/to/DANet --out tests/golden/authors

``--src`` is a checkout of https://github.com/junfu1115/DANet at ``COMMIT``. The modules are
``encoding/nn/da_att.py:PAM_Module`` and ``CAM_Module`` (records ``position_attention.pt`` and
``channel_attention.pt``). The file imports only torch and numpy. ``gamma`` is seeded like
every weight, so the attention term shows in the output.
"""
from pathlib import Path

from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'junfu1115/DANet'
COMMIT = 'b0a0fa008148f102321cdaa7ca38fb0ddd0239d1'
FILE = 'encoding/nn/da_att.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, '')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_da_att')
    for cls, name, arg, scale in (('PAM_Module', 'position_attention.pt', 'PositionAttention()',
                                   1.0),
                                  ('CAM_Module', 'channel_attention.pt', 'ChannelAttention()',
                                   0.1)):
        kwargs = dict(in_dim=32)
        module = seed_weights(getattr(authors, cls)(**kwargs))
        # CAM's energies are unscaled sums over H*W products: a smaller input keeps its
        # softmax away from one-hot, so the comparison sees every term
        inputs = [seeded_input(2, 32, 11, 13, scale=scale)]
        write_record(
            str(Path(args.out) / name),
            provenance=dict(
                repo=REPO, commit=COMMIT, file=FILE, cls=cls, sha256=digest,
                note=f'seeded weights N(0, 0.3²) (gamma too); input randn seed 1 x {scale}',
                attnplug=arg,
                departures=('none' if cls == 'PAM_Module' else
                            'softmax(max(XX^T) - XX^T) (da_att.py:75), the paper writes '
                            'softmax(XX^T)')),
            authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
            outputs=run_modes(module, inputs))
