"""Convert a BAM-ResNet of the BAM authors (Jongchan/attention-module,
``MODELS/model_resnet.py``, ``ResidualNet('ImageNet', depth, 1000, 'BAM')``) into
``attnplug.ResNet`` with ``attnplug.BAM(variant='authors')`` after stages 1-3.

Usage::

    python tools/model_converters/bam2attnplug.py BAM_R50_CHECKPOINT.pth.tar bam-r50-attnplug.pth

Mapping (docs/pretrained.md): the torchvision-layout ResNet keys keep their names;
``bam{i}`` (run by the authors' forward after ``layer{i}``, i = 1, 2, 3) is the stage-level
plugin ``after_stage_plugins.layer{i}.bam``. In it, ``channel_att.gate_c``'s ``gate_c_fc_0``,
``gate_c_bn_1`` and ``gate_c_fc_final`` (``nn.Linear``, ``BatchNorm1d``, ``nn.Linear``) are
``channel_branch.0``, ``.1`` and ``.3`` (1x1 convs, BatchNorm2d: the linear weights gain two
unit dimensions); ``spatial_att.gate_s``'s ``gate_s_conv_reduce0``, ``gate_s_bn_reduce0``,
``gate_s_conv_di_{0,1}``, ``gate_s_bn_di_{0,1}`` and ``gate_s_conv_final`` are
``spatial_branch.0``, ``.1``, ``.3``/``.6``, ``.4``/``.7`` and ``.9``. The authors' product form
``1 + sigmoid(Mc * Ms)`` without final BNs is ``variant='authors'``. ``fc`` is dropped.
"""
from attnplug.converters import (
    ConversionError, Rule, linear_to_conv, main, rename, resnet_layout, torchvision_resnet_rules)

NAME = 'bam'


def backbone_cfg(depth: int, reduction: int, dilation: int) -> dict:
    return dict(type='attnplug.ResNet', depth=depth, plugins=[
        dict(cfg=dict(type='attnplug.BAM', reduction=reduction, dilation=dilation,
                      num_dilated_convs=2, variant='authors'),
             stages=(True, True, True, False), position='after_stage')
    ])


def convert(source):
    where = f'{NAME}2attnplug'
    depth, _ = resnet_layout(source, where)
    stages = sorted({k.split('.')[0] for k in source if k.startswith('bam')})
    if stages != ['bam1', 'bam2', 'bam3']:
        raise ConversionError(f'{where}: BAM modules {stages}; expected bam1, bam2, bam3 (after '
                              'stages 1-3, as ResidualNet builds them)')
    fc0 = source['bam1.channel_att.gate_c.gate_c_fc_0.weight']
    reduction = fc0.shape[1] // fc0.shape[0]
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    to = r'after_stage_plugins.layer\1.bam'
    gate_c, gate_s = r'bam([1-3])\.channel_att\.gate_c', r'bam([1-3])\.spatial_att\.gate_s'
    rules = torchvision_resnet_rules(
        Rule(rf'{gate_c}\.gate_c_fc_0\.weight', rf'{to}.channel_branch.0.weight',
             transform=linear_to_conv),
        Rule(rf'{gate_c}\.gate_c_fc_0\.bias', rf'{to}.channel_branch.0.bias'),
        Rule(rf'{gate_c}\.gate_c_bn_1\.{bn}', rf'{to}.channel_branch.1.\2'),
        Rule(rf'{gate_c}\.gate_c_fc_final\.weight', rf'{to}.channel_branch.3.weight',
             transform=linear_to_conv),
        Rule(rf'{gate_c}\.gate_c_fc_final\.bias', rf'{to}.channel_branch.3.bias'),
        Rule(rf'{gate_s}\.gate_s_conv_reduce0\.(weight|bias)', rf'{to}.spatial_branch.0.\2'),
        Rule(rf'{gate_s}\.gate_s_bn_reduce0\.{bn}', rf'{to}.spatial_branch.1.\2'),
        Rule(rf'{gate_s}\.gate_s_conv_di_0\.(weight|bias)', rf'{to}.spatial_branch.3.\2'),
        Rule(rf'{gate_s}\.gate_s_bn_di_0\.{bn}', rf'{to}.spatial_branch.4.\2'),
        Rule(rf'{gate_s}\.gate_s_conv_di_1\.(weight|bias)', rf'{to}.spatial_branch.6.\2'),
        Rule(rf'{gate_s}\.gate_s_bn_di_1\.{bn}', rf'{to}.spatial_branch.7.\2'),
        Rule(rf'{gate_s}\.gate_s_conv_final\.(weight|bias)', rf'{to}.spatial_branch.9.\2'))
    state_dict, dropped = rename(source, rules, where)
    return state_dict, dropped, backbone_cfg(depth, reduction, dilation=4)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
