"""attnplug.converters, the shared part of tools/model_converters/: unwrapping, strict renaming,
the check against a backbone (tests/tools/test_model_converters.py runs the converters)."""
import argparse

import pytest
import torch
import torch.nn as nn

from attnplug.converters import (ConversionError, Rule, check_against, linear_to_conv, load_source,
                                 rename, resnet_layout, unwrap)


def test_unwrap_takes_the_state_dict_and_strips_dataparallel():
    sd = {'module.conv.weight': torch.ones(1), 'module.fc.bias': torch.zeros(2)}
    assert list(unwrap(dict(state_dict=sd, epoch=3))) == ['conv.weight', 'fc.bias']
    assert list(unwrap(dict(model={'a.weight': torch.ones(1)}))) == ['a.weight']
    # a prefix only some keys have is kept
    assert list(unwrap({'module.a': torch.ones(1), 'b': torch.ones(1)})) == ['module.a', 'b']
    with pytest.raises(ConversionError, match='non-tensor'):
        unwrap({'a': torch.ones(1), 'b': 3})
    with pytest.raises(ConversionError, match='no state dict'):
        unwrap([1, 2])


def test_load_source_reads_safely(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save(dict(state_dict={'module.w': torch.ones(2)}, best_prec1=77.6), path)
    assert list(load_source(str(path))) == ['w']

    # training scripts often save their argparse arguments, which weights_only refuses
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'w': torch.ones(1)}, args=argparse.Namespace(lr=0.1)), bad)
    with pytest.raises(ConversionError, match='weights_only=True'):
        load_source(str(bad))


def test_rename_is_strict():
    rules = [Rule(r'a\.(\w+)', r'b.\1'), Rule(r'fc\.weight', None, 'head'),
             Rule(r'lin\.weight', 'conv.weight', transform=linear_to_conv)]
    out, dropped = rename({'a.x': torch.ones(1), 'fc.weight': torch.ones(1),
                           'lin.weight': torch.ones(3, 2)}, rules, 'test')
    assert list(out) == ['b.x', 'conv.weight'] and out['conv.weight'].shape == (3, 2, 1, 1)
    assert dropped == [('fc.weight', 'head')]
    with pytest.raises(ConversionError, match=r"match no rule.*'other\.w'"):
        rename({'a.x': torch.ones(1), 'other.w': torch.ones(1)}, rules, 'test')
    with pytest.raises(ConversionError, match='two source keys'):
        rename({'a.x': torch.ones(1), 'c.x': torch.ones(1)},
               [Rule(r'[ac]\.x', 'b.x')], 'test')


def test_check_against_names_missing_unexpected_and_misshaped_keys():
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    good = model.state_dict()
    check_against(dict(good), model, 'test')
    with pytest.raises(ConversionError, match=r"missing 1 key.*'0\.bias'"):
        check_against({k: v for k, v in good.items() if k != '0.bias'}, model, 'test')
    with pytest.raises(ConversionError, match="'extra'"):
        check_against(dict(good, extra=torch.ones(1)), model, 'test')
    with pytest.raises(ConversionError, match=r'0\.weight: \(3, 2\) for \(3, 2, 1, 1\)'):
        check_against(dict(good, **{'0.weight': torch.ones(3, 2)}), model, 'test')


def test_resnet_layout():
    def keys(counts, bottleneck=True):
        conv = 'conv3' if bottleneck else 'conv2'
        return {f'layer{i}.{j}.{conv}.weight': torch.ones(1)
                for i, n in enumerate(counts, 1) for j in range(n)}

    assert resnet_layout(keys((3, 4, 6, 3)), 'test') == (50, (3, 4, 6, 3))
    assert resnet_layout(keys((3, 4, 6, 3), bottleneck=False), 'test') == (34, (3, 4, 6, 3))
    assert resnet_layout(keys((3, 4, 23, 3)), 'test')[0] == 101
    with pytest.raises(ConversionError, match=r'\(1, 1, 1, 1\).*match no ResNet depth'):
        resnet_layout(keys((1, 1, 1, 1)), 'test')
