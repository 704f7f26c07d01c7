"""Convert a CBAM-ResNet of the CBAM authors (Jongchan/attention-module,
``MODELS/model_resnet.py``, ``ResidualNet('ImageNet', depth, 1000, 'CBAM')``) into
``attnplug.ResNet`` with ``attnplug.CBAM(variant='authors')`` plugins.

Usage::

    python tools/model_converters/cbam2attnplug.py CBAM_R50_CHECKPOINT.pth.tar cbam-r50-attnplug.pth

Mapping (docs/pretrained.md): the torchvision-layout ResNet keys keep their names;
``layer{i}.{j}.cbam`` is the plugin at ``after_conv3`` (``after_conv2`` in ResNet-18/34), where
the authors' blocks call it (after the last BN, before the residual sum).
``ChannelGate.mlp.1``/``mlp.3`` (``nn.Linear``) are ``channel_attention.fc1``/``fc2`` (1x1
convs: the weights gain two unit dimensions); ``SpatialGate.spatial.conv``/``.bn`` are
``spatial_attention.conv``/``.norm``: the authors' BN after the 7x7 conv, and their pooled
channels ordered (max, mean), are ``variant='authors'``. ``fc`` is dropped.
"""
from attnplug.converters import (
    Rule, linear_to_conv, main, rename, resnet_layout, torchvision_resnet_rules)

NAME = 'cbam'


def backbone_cfg(depth: int, reduction: int) -> dict:
    position = 'after_conv3' if depth >= 50 else 'after_conv2'
    return dict(type='attnplug.ResNet', depth=depth, plugins=[
        dict(cfg=dict(type='attnplug.CBAM', reduction=reduction, variant='authors'),
             position=position)
    ])


def convert(source):
    where = f'{NAME}2attnplug'
    depth, _ = resnet_layout(source, where)
    fc1 = source.get('layer1.0.cbam.ChannelGate.mlp.1.weight')
    reduction = 16 if fc1 is None else fc1.shape[1] // fc1.shape[0]
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    block, to = r'layer([1-4])\.(\d+)\.cbam', r'layer\1.\2.cbam'
    rules = torchvision_resnet_rules(
        Rule(rf'{block}\.ChannelGate\.mlp\.1\.weight', rf'{to}.channel_attention.fc1.weight',
             transform=linear_to_conv),
        Rule(rf'{block}\.ChannelGate\.mlp\.1\.bias', rf'{to}.channel_attention.fc1.bias'),
        Rule(rf'{block}\.ChannelGate\.mlp\.3\.weight', rf'{to}.channel_attention.fc2.weight',
             transform=linear_to_conv),
        Rule(rf'{block}\.ChannelGate\.mlp\.3\.bias', rf'{to}.channel_attention.fc2.bias'),
        Rule(rf'{block}\.SpatialGate\.spatial\.conv\.weight',
             rf'{to}.spatial_attention.conv.weight'),
        Rule(rf'{block}\.SpatialGate\.spatial\.bn\.{bn}', rf'{to}.spatial_attention.norm.\3'))
    state_dict, dropped = rename(source, rules, where)
    return state_dict, dropped, backbone_cfg(depth, reduction)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
