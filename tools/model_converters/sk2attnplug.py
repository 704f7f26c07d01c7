"""Convert an SK-ResNet of the SKNet authors' PyTorch release (implus/PytorchInsight,
``classification/models/imagenet/resnet_sk.py``, ``sk_resnet50``/``sk_resnet101``, the
"SK-ResNet*" of its README) into ``attnplug.ResNet`` with ``attnplug.SKConv`` as every
Bottleneck's conv2 (the ``dcn`` slot).

Usage::

    python tools/model_converters/sk2attnplug.py SK_R50_CHECKPOINT.pth.tar sk-r50-attnplug.pth

Mapping (docs/pretrained.md): per block, ``conv2``/``bn2`` (3x3, 1 group) and
``conv2g``/``bn2g`` (3x3, 32 groups) are ``conv2.branches.0`` and ``conv2.branches.1`` of
``SKConv(branch_cfgs=[dict(groups=1, dilation=1), dict(groups=32, dilation=1)])``;
``conv_fc1``, ``bn_fc1``, ``conv_fc2`` are ``conv2.fc_reduce``, ``fc_norm``, ``fc_select``
(fuse width ``planes // 16``, no floor: ``min_hidden_channels=1``). The other ResNet keys keep
their names; ``fc`` is dropped.

mmcv's Bottleneck puts ``norm2`` and a ReLU after whatever conv2 is; the authors' SK output goes
straight to ``conv3``. The converter writes that ``bn2`` as an identity (weight 1, bias 0, running
mean 0, running variance ``1 - eps``) and says so: with frozen BN statistics (``norm_eval=True``,
mmdet's recipe) and in eval mode the backbone then computes the authors' function exactly (the
ReLU sees a convex combination of ReLU outputs). Training with BN statistics updated makes that
extra BN a real layer.
"""
import torch

from attnplug.converters import Rule, main, rename, resnet_layout, torchvision_resnet_rules

NAME = 'sk'
BN_EPS = 1e-5


def sk_cfg() -> dict:
    return dict(type='attnplug.SKConv', branch_cfgs=[dict(groups=1, dilation=1),
                                                     dict(groups=32, dilation=1)],
                reduction=16, min_hidden_channels=1)


def backbone_cfg(depth: int) -> dict:
    return dict(type='attnplug.ResNet', depth=depth, dcn=sk_cfg(),
                stage_with_dcn=(True, True, True, True))


def convert(source):
    where = f'{NAME}2attnplug'
    depth, counts = resnet_layout(source, where)
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    blk = r'layer([1-4])\.(\d+)'
    rules = [
        Rule(rf'{blk}\.conv2\.weight', r'layer\1.\2.conv2.branches.0.0.weight'),
        Rule(rf'{blk}\.bn2\.{bn}', r'layer\1.\2.conv2.branches.0.1.\3'),
        Rule(rf'{blk}\.conv2g\.weight', r'layer\1.\2.conv2.branches.1.0.weight'),
        Rule(rf'{blk}\.bn2g\.{bn}', r'layer\1.\2.conv2.branches.1.1.\3'),
        Rule(rf'{blk}\.conv_fc1\.weight', r'layer\1.\2.conv2.fc_reduce.weight'),
        Rule(rf'{blk}\.bn_fc1\.{bn}', r'layer\1.\2.conv2.fc_norm.\3'),
        Rule(rf'{blk}\.conv_fc2\.weight', r'layer\1.\2.conv2.fc_select.weight'),
    ]
    state_dict, dropped = rename(source, torchvision_resnet_rules(*rules), where)
    # the identity bn2 after the SK conv (module docstring)
    for stage, blocks in enumerate(counts, 1):
        for j in range(blocks):
            planes = source[f'layer{stage}.{j}.conv2.weight'].shape[0]
            prefix = f'layer{stage}.{j}.bn2'
            state_dict[f'{prefix}.weight'] = torch.ones(planes)
            state_dict[f'{prefix}.bias'] = torch.zeros(planes)
            state_dict[f'{prefix}.running_mean'] = torch.zeros(planes)
            state_dict[f'{prefix}.running_var'] = torch.full((planes, ), 1 - BN_EPS)
            state_dict[f'{prefix}.num_batches_tracked'] = torch.zeros((), dtype=torch.long)
    dropped.append((None, f'added an identity bn2 after the SK conv in each of the '
                              f'{sum(counts)} blocks (weight 1, bias 0, mean 0, var 1 - eps)'))
    return state_dict, dropped, backbone_cfg(depth)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
