"""Convert an SE-ResNet of Cadene's pretrainedmodels (``pretrainedmodels/models/senet.py``,
``se_resnet50`` / ``se_resnet101`` / ``se_resnet152``: the SENet authors' Caffe models,
hujie-frank/SENet, ported to PyTorch) into ``attnplug.ResNet`` (``style='caffe'``) with
``attnplug.SqueezeExcitation`` plugins.

Usage::

    python tools/model_converters/se2attnplug.py se_resnet50-ce0d4300.pth se-r50-attnplug.pth

Mapping (docs/pretrained.md): ``layer0.conv1``/``layer0.bn1`` are the stem ``conv1``/``bn1``;
block keys keep their names; ``layer{i}.{j}.se_module.fc1``/``fc2`` (1x1 convs with bias) are
``attnplug.SqueezeExcitation``'s ``fc1``/``fc2`` at ``after_conv3`` (after ``bn3``, before the
residual sum, where ``SEResNetBottleneck`` calls it); ``last_linear`` is dropped. The Caffe
models put the stride in the first 1x1 conv, which is mmseg's ``style='caffe'``.

One difference remains: the Caffe stem max-pools with ``ceil_mode=True`` and no padding, mmcv's
ResNet with ``padding=1``; the pooling windows are shifted by one pixel (docs/pretrained.md).
"""
from attnplug.converters import Rule, main, rename, resnet_layout, torchvision_resnet_rules

NAME = 'se'


def backbone_cfg(depth: int, reduction: int) -> dict:
    return dict(type='attnplug.ResNet', depth=depth, style='caffe', plugins=[
        dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=reduction),
             position='after_conv3')
    ])


def convert(source):
    where = f'{NAME}2attnplug'
    depth, _ = resnet_layout(source, where)
    fc1 = source.get('layer1.0.se_module.fc1.weight')
    reduction = 16 if fc1 is None else fc1.shape[1] // fc1.shape[0]
    rules = torchvision_resnet_rules(
        Rule(r'layer([1-4])\.(\d+)\.se_module\.(fc[12])\.(weight|bias)', r'layer\1.\2.se.\3.\4'),
        stem='layer0.')
    state_dict, dropped = rename(source, rules, where)
    return state_dict, dropped, backbone_cfg(depth, reduction)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
