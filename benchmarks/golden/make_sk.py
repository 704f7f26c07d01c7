"""Golden record of the SK convolution from its authors' Caffe release, read as a spec
(tests/golden/README.md).

    python benchmarks/golden/make_sk.py --src /path/to/SKNet

``--src`` is a checkout of https://github.com/implus/SKNet at ``COMMIT``. The authors released
only Caffe models, so the reference is the first SK unit of ``models/sknet50.prototxt``, the
layers ``conv2_1/3x3g32`` .. ``conv2_1/B_axpy`` (lines 150-466: two grouped 3x3 branches, the
second dilated, BN + ReLU each, their sum pooled, ``B_fc1`` + BN + ReLU, ``B_fc2``, a softmax
over the two branches and ``Scale`` + ``Axpy``), run layer by layer in PyTorch by
``_prototxt.py``. Its input is the blob ``conv2_1/1x1_reduce/bn`` (128 channels). Train mode
normalises with batch statistics (biased variance), eval with the stored ones.
"""
from _golden import check_commit, parse_args, run_modes, seed_weights, seeded_input, write_record
from _prototxt import PrototxtUnit, parse

import hashlib
from pathlib import Path

REPO = 'implus/SKNet'
COMMIT = '17dd7086d4959be0c8c6ccce52e4fd8187836770'
FILE = 'models/sknet50.prototxt'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'sk.pt')
    check_commit(args.src, COMMIT)
    text = (Path(args.src) / FILE).read_text()
    kwargs = dict(first='conv2_1/3x3g32', last='conv2_1/B_axpy',
                  input_blob='conv2_1/1x1_reduce/bn', output_blob='conv2_1/B_axpy',
                  in_channels=128)
    module = seed_weights(PrototxtUnit(parse(text), **kwargs))
    inputs = [seeded_input(2, 128, 5, 7)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='conv2_1 SK unit (prototxt)',
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            note='Caffe-only release: the prototxt layers conv2_1/3x3g32 .. conv2_1/B_axpy '
                 '(lines 150-466) run by benchmarks/golden/_prototxt.py; keys are '
                 "params.<layer name with '/' as '|'>; seeded weights N(0, 0.3²), BN "
                 'statistics random; input randn seed 1',
            attnplug='SKConv(128, 128, groups=32)',
            departures='none: group 32, dilations 1 and 2, fuse width max(C/16, 32) are the '
                       "paper's; attnplug's default groups=1 is a ResNet slot's"),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
