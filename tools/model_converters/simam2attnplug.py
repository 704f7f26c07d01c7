"""Convert a SimAM-ResNet of the authors (ZjjConan/SimAM, ``networks/imagenet/resnet.py`` built
with ``attention_module=simam_module``) into mmseg's/mmdet's ResNet wrapped by
``attnplug.WithPlugins`` with ``attnplug.SimAM`` after every block's ``conv2``.

Usage::

    python tools/model_converters/simam2attnplug.py SIMAM_R50.pth.tar simam-r50-attnplug.pth

Mapping (docs/pretrained.md): SimAM has no weights. The authors wrap the 3x3 conv as
``conv2 = Sequential(conv2, simam)``, so SimAM runs between ``conv2`` and ``bn2`` (in Bottleneck
and BasicBlock alike), a place attnplug's ResNet has no slot for; ``WithPlugins`` runs it on the
output of ``layer*.*.conv2``. ``layer{i}.{j}.conv2.0.weight`` becomes ``conv2.weight``; the other
ResNet keys keep their names; ``fc`` is dropped. The released models were trained with
``--attention_param 0.1``, i.e. ``e_lambda=0.1`` (attnplug's default is the paper's 1e-4).
"""
from attnplug.converters import Rule, main, rename, resnet_layout, torchvision_resnet_rules

NAME = 'simam'
RELEASED_LAMBDA = 0.1


def backbone_cfg(depth: int, e_lambda: float = RELEASED_LAMBDA) -> dict:
    return dict(type='attnplug.WithPlugins', wraps='mmseg.ResNet', depth=depth,
                plugins=[dict(cfg=dict(type='attnplug.SimAM', e_lambda=e_lambda),
                              after='layer*.*.conv2')])


def convert(source):
    where = f'{NAME}2attnplug'
    depth, _ = resnet_layout(source, where)
    rules = torchvision_resnet_rules(
        Rule(r'layer([1-4])\.(\d+)\.conv2\.0\.weight', r'layer\1.\2.conv2.weight'))
    state_dict, dropped = rename(source, rules, where)
    return state_dict, dropped, backbone_cfg(depth)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
