"""Golden record of the SK unit of the authors' PyTorch SK-ResNet (tests/golden/README.md).

    python benchmarks/golden/make_sk_pytorch.py --src /path/to/PytorchInsight

``--src`` is a checkout of https://github.com/implus/PytorchInsight at ``COMMIT`` (by SKNet's
first author). The SK unit is not a module of its own there: it is the middle of
``classification/models/imagenet/resnet_sk.py:Bottleneck`` (lines 85-100: ``conv2``/``bn2``
and the 32-group ``conv2g``/``bn2g``, both undilated, ``conv_fc1``/``bn_fc1``/``conv_fc2``, a
softmax over the two branches). This script runs the whole ``Bottleneck(32, 32)`` and records
what enters ``conv2`` and what enters ``conv3`` (forward hooks), with the unit's part of the
state dict. ``bn1`` is kept in eval mode in both runs so that the unit's input is the same;
the unit's own BNs run in the recorded mode.
"""
import torch
from _golden import load_file, parse_args, seed_weights, seeded_input, stub_module, write_record

REPO = 'implus/PytorchInsight'
COMMIT = '2864528f8b83f52c3df76f7c3804aa468b91e5cf'
FILE = 'classification/models/imagenet/resnet_sk.py'
UNIT = ('conv2.', 'bn2.', 'conv2g.', 'bn2g.', 'conv_fc1.', 'bn_fc1.', 'conv_fc2.')


class _Stop(Exception):
    pass


def run_unit(block, x, mode):
    """(input of conv2, input of conv3) of ``block(x)`` in ``mode``."""
    seen = {}

    def at_conv2(module, args):
        seen['in'] = args[0].detach().clone()

    def at_conv3(module, args):
        seen['out'] = args[0].detach().clone()
        raise _Stop

    block.train(mode == 'train')
    block.bn1.eval()
    hooks = [block.conv2.register_forward_pre_hook(at_conv2),
             block.conv3.register_forward_pre_hook(at_conv3)]
    try:
        with torch.no_grad():
            block(x)
    except _Stop:
        pass
    for h in hooks:
        h.remove()
    return seen['in'], seen['out']


if __name__ == '__main__':
    args = parse_args(__doc__, REPO, COMMIT, 'sk-pytorchinsight.pt')
    head, _ = load_file(args.src, COMMIT, 'classification/models/imagenet/common_head.py',
                        'authors_sk.common_head')
    package = stub_module('authors_sk')
    package.__path__ = []
    authors, digest = load_file(args.src, COMMIT, FILE, 'authors_sk.resnet_sk',
                                stubs={'authors_sk': package, 'authors_sk.common_head': head})
    kwargs = dict(inplanes=32, planes=32)
    block = seed_weights(authors.Bottleneck(**kwargs))
    start = {k: v.clone() for k, v in block.state_dict().items()}
    x = seeded_input(2, 32, 9, 11)
    outputs, unit_in = {}, None
    for mode in ('train', 'eval'):
        block.load_state_dict(start)
        unit_in, outputs[mode] = run_unit(block, x, mode)
    block.load_state_dict(start)
    write_record(
        args.out,
        provenance=dict(
            repo=REPO, commit=COMMIT, file=FILE, cls='Bottleneck (SK unit: conv2 .. conv_fc2)',
            sha256=digest,
            note='Bottleneck(32, 32); input = what enters conv2, output = what enters conv3 '
                 '(forward hooks; bn1 in eval mode in both runs); state dict restricted to '
                 'the unit; seeded weights N(0, 0.3²), BN statistics random; block input '
                 'randn seed 1',
            attnplug='SKConv(32, 32, branch_cfgs=[dict(groups=1, dilation=1), '
                     'dict(groups=32, dilation=1)], min_hidden_channels=1)',
            departures="two undilated 3x3 branches with 1 and 32 groups (lines 60-63), fuse "
                       "width planes // 16 with no floor (lines 72-74); the paper's second "
                       'branch is dilated and both have 32 groups'),
        authors_kwargs=kwargs,
        state_dict={k: v for k, v in start.items() if k.startswith(UNIT)},
        inputs=[unit_in], outputs=outputs)
