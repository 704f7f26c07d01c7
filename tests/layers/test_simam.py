"""Tests of attnplug.layers.simam (SimAM): the energy formula of the paper written out, the
plugin contract, and discovery by the registry and the attention-map tools."""
import pytest
import torch

from attnplug.layers import SimAM
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 16


def naive_simam(x, e_lambda=1e-4):
    """Eq. 6-7 of SimAM per neuron, in float64: the energy of each neuron against the other
    n = H·W - 1 neurons of its channel."""
    b, c, h, w = x.shape
    x = x.double()
    out = torch.empty_like(x)
    n = h * w - 1
    for i in range(b):
        for j in range(c):
            channel = x[i, j]
            mu = channel.mean()
            var = ((channel - mu)**2).sum() / n
            energy = 4 * (var + e_lambda) / ((channel - mu)**2 + 2 * var + 2 * e_lambda)
            out[i, j] = channel * torch.sigmoid(1 / energy)
    return out.float()


@pytest.mark.parametrize('size', [(23, 31), (7, 7), (2, 5)])
def test_matches_the_paper_formula(size):
    x = torch.randn(2, C, *size, generator=torch.Generator().manual_seed(0)) * 3
    m = SimAM(C)
    torch.testing.assert_close(m(x), naive_simam(x), atol=1e-5, rtol=1e-5)
    assert (m(x) - x).abs().max() > 0.1  # not an identity: the weights lie in (0.5, 1)


def test_parameter_free_and_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.SimAM', e_lambda=1e-3), in_channels=C)
    assert name == 'simam' and isinstance(layer, SimAM) and layer.e_lambda == 1e-3
    assert list(layer.parameters()) == [] and layer.state_dict() == {}
    with pytest.raises(ValueError, match='e_lambda'):
        SimAM(C, e_lambda=0)


def test_contract():
    m = SimAM(C)
    assert_shape_preserved(m, C)  # 1x5 included: n = H·W - 1 = 4
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    y = m(torch.randn(1, C, 1, 1))  # n = 0: no division by zero
    assert torch.isfinite(y).all()


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(SimAM(C), C)


def test_attention_map_is_the_forward_weighting():
    x = torch.randn(2, C, 9, 11)
    m = SimAM(C)
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11) and amap.query is None
    torch.testing.assert_close(amap.maps, (m(x) / x).mean(1), atol=1e-4, rtol=1e-4)
