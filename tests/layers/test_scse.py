"""Tests of attnplug.layers.scse (SCSE)."""
import pytest
import torch

from attnplug.layers import SCSE
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 16


def _module(**kwargs):
    torch.manual_seed(0)
    return SCSE(in_channels=C, **kwargs)


@pytest.mark.parametrize('fusion', ['add', 'max'])
def test_contract(fusion):
    m = _module(fusion=fusion)
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


@pytest.mark.parametrize('fusion', ['add', 'max'])
def test_onnx_parity(fusion):
    assert_onnx_parity(_module(fusion=fusion), C)


@pytest.mark.parametrize('fusion', ['add', 'max'])
def test_matches_the_paper_equations(fusion):
    m = _module(fusion=fusion).eval()
    p = {k: v.detach().flatten(1) if v.dim() > 1 else v.detach() for k, v in m.named_parameters()}
    x = torch.randn(2, C, 5, 7)
    z = x.mean(dim=(2, 3))
    s = torch.sigmoid(torch.relu(z @ p['channel_fc1.weight'].T + p['channel_fc1.bias'])
                      @ p['channel_fc2.weight'].T + p['channel_fc2.bias'])
    u_cse = x * s[:, :, None, None]
    q = torch.einsum('nchw,oc->nohw', x, p['spatial_conv.weight'])
    q = q + p['spatial_conv.bias'][:, None, None]
    u_sse = x * torch.sigmoid(q)
    expected = u_cse + u_sse if fusion == 'add' else torch.maximum(u_cse, u_sse)
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)
    assert m.channel_fc1.out_channels == C // 2  # r = 2 in the paper


def test_unknown_fusion():
    with pytest.raises(ValueError, match='fusion'):
        _module(fusion='concat')


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.SCSE', reduction=4), in_channels=C)
    assert name == 'scse' and isinstance(layer, SCSE) and layer.channel_fc1.out_channels == 4
    assert isinstance(MODELS.build(dict(type='SCSE', in_channels=8)), SCSE)
