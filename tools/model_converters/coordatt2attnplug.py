"""Convert the coordinate-attention MobileNetV2 of the authors (houqb/CoordAttention,
``mbv2_ca.py``, ``MBV2_CA``; released as ``mbv2_ca.pth``) into mmseg's ``MobileNetV2`` wrapped by
``attnplug.WithPlugins`` with ``attnplug.CoordAttention`` after each depthwise conv.

Usage::

    python tools/model_converters/coordatt2attnplug.py mbv2_ca.pth mbv2-ca-attnplug.pth

Mapping (docs/pretrained.md): ``features.0`` is the stem ``conv1``; ``features.{n}`` (n >= 1)
is block ``layer{i}.{j}`` of mmseg's MobileNetV2 (the same 1, 2, 3, 4, 3, 3, 1 blocks). In a
block with expansion (all but ``layer1.0``) the authors' ``conv`` Sequential holds pw conv/BN
(0, 1), dw conv/BN (3, 4), ``CoordAtt`` (6) and the linear pw conv/BN (7, 8); mmseg's holds
three ConvModules ``conv.{0,1,2}.{conv,bn}``. ``CoordAtt``'s ``conv1``/``bn1``/``conv2``/``conv3``
are ``attnplug.CoordAttention``'s ``conv_shared``/``norm``/``conv_h``/``conv_w``, placed by
``WithPlugins`` after ``layer[2-7].*.conv.1`` (the dw ConvModule, after its ReLU6), where the
authors call it. The head (``conv``: 1x1 conv to 1280 channels + BN, and ``classifier``) is
dropped: mmseg's MobileNetV2 ends at the 320-channel ``layer7``.
"""
from attnplug.converters import ConversionError, Rule, main, rename

NAME = 'coordatt'
#: (expansion, blocks) of MobileNetV2's seven stages, as in mbv2_ca.py and mmseg.
ARCH = ((1, 1), (6, 2), (6, 3), (6, 4), (6, 3), (6, 3), (6, 1))


def backbone_cfg(widen_factor: float = 1.) -> dict:
    return dict(type='attnplug.WithPlugins', wraps='mmseg.MobileNetV2',
                widen_factor=widen_factor, out_indices=(1, 2, 4, 6),
                plugins=[dict(cfg=dict(type='attnplug.CoordAttention'),
                              after='layer[2-7].*.conv.1')])


def block_names():
    """``features`` index -> (mmseg block name, expansion)."""
    names, n = {}, 1
    for stage, (t, blocks) in enumerate(ARCH, 1):
        for j in range(blocks):
            names[n] = (f'layer{stage}.{j}', t)
            n += 1
    return names


def rules():
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    out = [Rule(r'features\.0\.0\.weight', 'conv1.conv.weight'),
           Rule(rf'features\.0\.1\.{bn}', r'conv1.bn.\1')]
    for n, (block, t) in block_names().items():
        src = rf'features\.{n}\.conv'
        if t == 1:  # dw (0, 1), linear pw (3, 4)
            layout = {0: 0, 1: 0, 3: 1, 4: 1}
        else:  # pw (0, 1), dw (3, 4), CoordAtt (6), linear pw (7, 8)
            layout = {0: 0, 1: 0, 3: 1, 4: 1, 7: 2, 8: 2}
            ca = f'attnplug_plugins.{block}.conv.1.coord_att'
            out += [Rule(rf'{src}\.6\.conv1\.(weight|bias)', rf'{ca}.conv_shared.\1'),
                    Rule(rf'{src}\.6\.bn1\.{bn}', rf'{ca}.norm.\1'),
                    Rule(rf'{src}\.6\.conv2\.(weight|bias)', rf'{ca}.conv_h.\1'),
                    Rule(rf'{src}\.6\.conv3\.(weight|bias)', rf'{ca}.conv_w.\1')]
        for i, module in layout.items():
            if i in (0, 3, 7):
                out.append(Rule(rf'{src}\.{i}\.weight', f'{block}.conv.{module}.conv.weight'))
            else:
                out.append(Rule(rf'{src}\.{i}\.{bn}', rf'{block}.conv.{module}.bn.\1'))
    out += [Rule(rf'conv\.0\.weight|conv\.1\.{bn}', None,
                 'the classification head: 1x1 conv to 1280 channels and its BN'),
            Rule(r'classifier\.1\.(weight|bias)', None, 'the ImageNet classifier')]
    return out


def convert(source):
    where = f'{NAME}2attnplug'
    stem = source.get('features.0.0.weight')
    if stem is None:
        raise ConversionError(f"{where}: no 'features.0.0.weight': not an MBV2_CA state dict")
    widen_factor = stem.shape[0] / 32
    if widen_factor != 1:
        raise ConversionError(f'{where}: width multiplier {widen_factor} (stem {stem.shape[0]} '
                              'channels); only the released width 1.0 is supported')
    state_dict, dropped = rename(source, rules(), where)
    return state_dict, dropped, backbone_cfg(widen_factor)


if __name__ == '__main__':
    main(NAME, __doc__.split('\n\n')[0], convert)
