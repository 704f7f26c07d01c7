"""Golden records of ECA from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_eca.py --src /path/to/ECANet

``--src`` is a checkout of https://github.com/BangguWu/ECANet at ``COMMIT``. The module is
``models/eca_module.py:eca_layer`` with each 1D kernel the released models use (3, 5 and 7 in
the ECA-ResNets: ``eca_resnet50_k3557`` and the others, README lines 81-85; 1 and 3 in
ECA-MobileNetV2, ``models/eca_mobilenetv2.py:77-80``), one record per kernel,
``eca-k<k>.pt``. No BN; ``--out`` names the folder.
"""
from pathlib import Path

from _golden import load_file, parse_args, run_modes, seed_weights, seeded_input, write_record

REPO = 'BangguWu/ECANet'
COMMIT = 'b332f6b3e6e2afe8a3287dc8ee8440a0fbec74c4'
FILE = 'models/eca_module.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, '')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_eca')
    for k in (1, 3, 5, 7):
        kwargs = dict(channel=64, k_size=k)
        module = seed_weights(authors.eca_layer(**kwargs), seed=k)
        inputs = [seeded_input(2, 64, 7, 9)]
        write_record(
            str(Path(args.out) / f'eca-k{k}.pt'),
            provenance=dict(
                repo=REPO, commit=COMMIT, file=FILE, cls='eca_layer', sha256=digest,
                note=f'k_size={k}; seeded weights N(0, 0.3²) (seed {k}); input randn seed 1',
                attnplug=f'ECA(kernel_size={k})',
                departures='k is an argument (eca_module.py:12), set per stage in the released '
                           'models (R50: 3, 5, 5, 7; README line 83), not Eq. 12 '
                           '(5, 5, 5, 7)'),
            authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
            outputs=run_modes(module, inputs))
