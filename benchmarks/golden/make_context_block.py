"""Golden record of the GC block from its authors' code (tests/golden/README.md).

    python benchmarks/golden/make_context_block.py --src /path/to/GCNet

``--src`` is a checkout of https://github.com/xvjiarui/GCNet at ``COMMIT``. The module is
``mmdet/ops/gcb/context_block.py:ContextBlock`` as their configs build it
(``gcb=dict(ratio=1./16.)``, e.g. ``configs/gcnet/r101/backbone_syncbn/
mask_rcnn_r16_gcb_c3-c5_r101_fpn_syncbn_1x.py:14-16``: attention pooling, channel_add). The
file imports ``constant_init``/``kaiming_init`` from mmcv 0.x's ``mmcv.cnn``, which mmcv 2.x
no longer has; they only initialise weights that the seeding overwrites, so a stub module
gives plain versions of both. 64 channels give a fuse width of 4: with 2, the LayerNorm over
two values keeps only their order, and a perturbed first conv could go unseen.
"""
import torch.nn as nn
from _golden import (load_file, parse_args, run_modes, seed_weights, seeded_input, stub_module,
                     write_record)

REPO = 'xvjiarui/GCNet'
COMMIT = '029db5407dc27147eb1d41f62b09dfed8ec88837'
FILE = 'mmdet/ops/gcb/context_block.py'


def _constant_init(module, val, bias=0):
    nn.init.constant_(module.weight, val)
    if getattr(module, 'bias', None) is not None:
        nn.init.constant_(module.bias, bias)


def _kaiming_init(module, mode='fan_out', **kwargs):
    nn.init.kaiming_normal_(module.weight, mode=mode)
    if getattr(module, 'bias', None) is not None:
        nn.init.zeros_(module.bias)


if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'context_block.pt')
    mmcv = stub_module('mmcv')
    mmcv.__path__ = []
    cnn = stub_module('mmcv.cnn', constant_init=_constant_init, kaiming_init=_kaiming_init)
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_gcb',
                                stubs={'mmcv': mmcv, 'mmcv.cnn': cnn})
    kwargs = dict(inplanes=64, ratio=1. / 16, pooling_type='att', fusion_types=('channel_add', ))
    module = seed_weights(authors.ContextBlock(**kwargs))
    inputs = [seeded_input(2, 64, 7, 9)]
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='ContextBlock', sha256=digest,
            note='mmcv.cnn.constant_init/kaiming_init stubbed (init only, overwritten); '
                 'seeded weights N(0, 0.3²); input randn seed 1',
            attnplug='GlobalContextBlock(ratio=1/16)',
            departures='none'),
        authors_kwargs=kwargs, state_dict=module.state_dict(), inputs=inputs,
        outputs=run_modes(module, inputs))
