"""Tests of attnplug.layers.attention_refinement (AttentionRefinementModule)."""
import pytest
import torch
import torch.nn as nn

from attnplug.layers import AttentionRefinementModule
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 16

_MMSEG_TO_OURS = {
    'conv_layer.conv.': 'conv.',
    'conv_layer.bn.': 'norm.',
    'atten_conv_layer.1.conv.': 'attn_conv.',
    'atten_conv_layer.1.bn.': 'attn_norm.',
}


def _module(**kwargs):
    torch.manual_seed(0)
    return AttentionRefinementModule(in_channels=C, **kwargs)


def _randomise_bn(module):
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)


def _rename(key):
    for src, dst in _MMSEG_TO_OURS.items():
        if key.startswith(src):
            return dst + key[len(src):]
    raise KeyError(key)


@pytest.mark.parametrize('kwargs', [{}, dict(with_input_conv=False)])
def test_contract_as_a_plugin(kwargs):
    m = _module(**kwargs)
    assert m.out_channels == C
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    m = _module().eval()
    _randomise_bn(m)
    assert_onnx_parity(m, C)


@pytest.mark.parametrize('train', [False, True])
def test_matches_mmseg_arm(train):
    from mmseg.models.backbones.bisenetv1 import AttentionRefinementModule as MMSegARM
    torch.manual_seed(3)
    ref = MMSegARM(C, 24)
    _randomise_bn(ref)
    ours = AttentionRefinementModule(C, out_channels=24)
    ours.load_state_dict({_rename(k): v for k, v in ref.state_dict().items()}, strict=True)
    ref.train(train)
    ours.train(train)
    x = torch.randn(2, C, 11, 13)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)
    if train:  # both updated their running statistics the same way
        torch.testing.assert_close(ours.attn_norm.running_mean,
                                   ref.atten_conv_layer[1].bn.running_mean)


def test_paper_variant_has_no_input_conv():
    m = _module(with_input_conv=False).eval()
    assert not hasattr(m, 'conv')
    x = torch.randn(2, C, 5, 6)
    with torch.no_grad():
        w = torch.sigmoid(m.attn_norm(m.attn_conv(x.mean(dim=(2, 3), keepdim=True))))
        torch.testing.assert_close(m(x), x * w)
    with pytest.raises(ValueError, match='with_input_conv'):
        _module(with_input_conv=False, out_channels=8)


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.AttentionRefinementModule'), in_channels=C)
    assert name == 'arm' and isinstance(layer, AttentionRefinementModule)
    assert layer.out_channels == C
    built = MODELS.build(dict(type='AttentionRefinementModule', in_channels=8, out_channels=4))
    assert built(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)
