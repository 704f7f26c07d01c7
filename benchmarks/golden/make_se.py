"""Golden record of the SE block from its authors' Caffe release, read as a spec
(tests/golden/README.md).

    python benchmarks/golden/make_se.py --src /path/to/SENet

``--src`` is a checkout of https://github.com/hujie-frank/SENet at ``COMMIT``. The authors
released only Caffe models, so the reference is the SE part of the first unit of
``models/SE-ResNet-50.prototxt``: ``conv2_1_global_pool`` .. ``conv2_1`` (lines 167-250:
global average pooling, ``1x1_down`` 256 -> 16 with bias, ReLU, ``1x1_up`` 16 -> 256 with
bias, Sigmoid, and the ``Axpy`` that scales ``conv2_1_1x1_increase``), run layer by layer in
PyTorch by ``_prototxt.py``. The ``Axpy`` also adds the shortcut ``conv2_1_1x1_proj``; it is fed
zeros here, so the output is the SE block's alone. No BN: train and eval agree.
"""
from _golden import check_commit, parse_args, run_modes, seed_weights, seeded_input, write_record
from _prototxt import PrototxtUnit, parse

import hashlib
from pathlib import Path

REPO = 'hujie-frank/SENet'
COMMIT = '0262d43d44c561fd53c3dba210cc8bacfc60500d'
FILE = 'models/SE-ResNet-50.prototxt'

if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'se.pt')
    check_commit(args.src, COMMIT)
    text = (Path(args.src) / FILE).read_text()
    kwargs = dict(first='conv2_1_global_pool', last='conv2_1',
                  input_blob='conv2_1_1x1_increase', output_blob='conv2_1',
                  in_channels=256, zero_blobs=('conv2_1_1x1_proj', ))
    module = seed_weights(PrototxtUnit(parse(text), **kwargs))
    inputs = [seeded_input(2, 256, 3, 5)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='conv2_1 SE block (prototxt)',
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            note='Caffe-only release: the prototxt layers conv2_1_global_pool .. conv2_1 '
                 '(lines 167-250) run by benchmarks/golden/_prototxt.py, the shortcut blob '
                 "conv2_1_1x1_proj fed zeros; keys are params.<layer name with '/' as '|'>; "
                 'seeded weights N(0, 0.3²); input randn seed 1',
            attnplug='SqueezeExcitation(256)',
            departures='none'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
