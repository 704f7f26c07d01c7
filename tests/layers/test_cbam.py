"""Tests of attnplug.layers.cbam (CBAM)."""
import pytest
import torch
import torch.nn.functional as F

from attnplug.layers import CBAM
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 32


def _module(**kwargs):
    torch.manual_seed(0)
    return CBAM(in_channels=C, **kwargs)


def test_contract():
    m = _module()
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    assert_onnx_parity(_module(), C)


def test_matches_the_paper_equations():
    m = _module(reduction=4).eval()
    p = {k: v.detach() for k, v in m.named_parameters()}
    x = torch.randn(2, C, 9, 13)

    def mlp(v):  # (N, C) -> (N, C), the shared MLP W1 ReLU(W0 v)
        w0, b0 = p['channel_attention.fc1.weight'].flatten(1), p['channel_attention.fc1.bias']
        w1, b1 = p['channel_attention.fc2.weight'].flatten(1), p['channel_attention.fc2.bias']
        return torch.relu(v @ w0.T + b0) @ w1.T + b1

    flat = x.flatten(2)
    mc = torch.sigmoid(mlp(flat.mean(-1)) + mlp(flat.max(-1).values))  # Eq. 2
    f1 = x * mc[:, :, None, None]
    pooled = torch.stack([f1.mean(1), f1.max(1).values], dim=1)
    ms = torch.sigmoid(F.conv2d(pooled, p['spatial_attention.conv.weight'], padding=3))  # Eq. 3
    with torch.no_grad():
        torch.testing.assert_close(m(x), f1 * ms, atol=1e-5, rtol=1e-5)


def test_spatial_kernel_option():
    m = _module(spatial_kernel=3)
    assert m.spatial_attention.conv.kernel_size == (3, 3)
    assert_shape_preserved(m, C, sizes=((4, 6), ))
    with pytest.raises(ValueError, match='odd'):
        _module(spatial_kernel=4)


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.CBAM', reduction=8), in_channels=C)
    assert name == 'cbam' and isinstance(layer, CBAM)
    assert layer.channel_attention.fc1.out_channels == C // 8
    assert isinstance(MODELS.build(dict(type='CBAM', in_channels=16)), CBAM)


def test_authors_variant_contract_and_init():
    """variant='authors' (Jongchan/attention-module; equality with their code is
    tests/golden/test_authors_cbam.py): the plugin contract, and their init, a zero spatial BN
    weight, so that Ms starts as sigmoid(0) = 0.5 everywhere."""
    m = _module(variant='authors')
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    with torch.no_grad():
        m.spatial_attention.norm.weight.fill_(1.0)
    m.init_weights()
    x = torch.randn(2, C, 9, 13)
    with torch.no_grad():
        _, ms = m.eval()._refine(x)
    assert torch.equal(ms, torch.full_like(ms, 0.5))
    assert 'spatial_attention.norm.weight' not in _module().state_dict()
    with pytest.raises(ValueError, match='CBAM: variant must be one of'):
        _module(variant='official')
