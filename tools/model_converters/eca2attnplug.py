"""Convert an ECA-Net ResNet of the authors (BangguWu/ECANet, ``models/eca_resnet.py``) into
``attnplug.ResNet`` with ``attnplug.ECA`` plugins.

Usage::

    python tools/model_converters/eca2attnplug.py ECA_R50_K3557.pth.tar eca-r50-attnplug.pth

Mapping (docs/pretrained.md): the torchvision-layout ResNet keys keep their names,
``layer{i}.{j}.eca.conv.weight`` (a ``Conv1d(1, 1, k)``) is ``attnplug.ECA``'s ``conv.weight``
at ``after_conv3`` (``after_conv2`` in ResNet-18/34), where ``ECABottleneck`` calls it (after
``bn3``, before the residual sum). ``fc`` is dropped. The released models use fixed kernel
sizes per stage (the ``k3557`` of the file name, not the paper's Eq. 12); they are read from the
weights' shapes and written into the backbone config, one plugin entry per kernel size.
"""
from attnplug.converters import (
    ConversionError, Rule, main, rename, resnet_layout, torchvision_resnet_rules)

NAME = 'eca'


def backbone_cfg(depth: int, kernels) -> dict:
    position = 'after_conv3' if depth >= 50 else 'after_conv2'
    plugins = [
        dict(cfg=dict(type='attnplug.ECA', kernel_size=k),
             stages=tuple(kk == k for kk in kernels), position=position)
        for k in sorted(set(kernels))
    ]
    return dict(type='attnplug.ResNet', depth=depth, plugins=plugins)


def convert(source):
    where = f'{NAME}2attnplug'
    depth, _ = resnet_layout(source, where)
    kernels = []
    for stage in range(1, 5):
        sizes = {v.shape[-1] for k, v in source.items()
                 if k.startswith(f'layer{stage}.') and k.endswith('.eca.conv.weight')}
        if len(sizes) != 1:
            raise ConversionError(f'{where}: stage layer{stage} has ECA kernel sizes '
                                  f'{sorted(sizes)}; '
                                  'expected one size per stage (the released models)')
        kernels.append(int(sizes.pop()))
    rules = torchvision_resnet_rules(
        Rule(r'layer([1-4])\.(\d+)\.eca\.conv\.weight', r'layer\1.\2.eca.conv.weight'))
    state_dict, dropped = rename(source, rules, where)
    return state_dict, dropped, backbone_cfg(depth, kernels)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
