"""Golden records of SimAM from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_simam.py --src /path/to/SimAM

``--src`` is a checkout of https://github.com/ZjjConan/SimAM at ``COMMIT``. The module is
``networks/attentions/simam_module.py:simam_module``, once at its default ``e_lambda=1e-4``
(``simam.pt``) and once at the ``0.1`` of the released runs (``simam-lambda0.1.pt``: README
lines 71-74, ``mmdetection/configs/_base_/models/mask_rcnn_r50simam_fpn.py:11``). No
parameters; ``--out`` names the folder.
"""
from pathlib import Path

from _golden import load_file, parse_args, run_modes, seeded_input, write_record

REPO = 'ZjjConan/SimAM'
COMMIT = 'ae98f43a34a051cc82f6e618853c690e1f4c92e6'
FILE = 'networks/attentions/simam_module.py'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, '')
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_simam')
    for e_lambda, name, arg in ((1e-4, 'simam.pt', 'SimAM() (e_lambda=1e-4)'),
                                (0.1, 'simam-lambda0.1.pt', 'SimAM(e_lambda=0.1)')):
        kwargs = dict(e_lambda=e_lambda)
        module = authors.simam_module(**kwargs)
        inputs = [seeded_input(2, 32, 11, 13)]
        released = ('; the released runs use e_lambda=0.1 (README lines 71-74)'
                    if e_lambda != 0.1 else '; lambda of the released runs')
        write_record(
            str(Path(args.out) / name),
            provenance=dict(
                repo=REPO, commit=COMMIT, file=FILE, cls='simam_module', sha256=digest,
                note=f'no parameters; input randn seed 1{released}',
                attnplug=arg,
                departures='none in the equations; a 1x1 map divides by n = 0 (line 25)'),
            authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
            outputs=run_modes(module, inputs))
