"""Tests of attnplug.layers.attention_gate (AttentionGate)."""
import copy
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from attnplug.layers import AttentionGate
from attnplug.registry import MODELS
from attnplug.testing import assert_amp_finite, assert_deterministic, assert_shape_preserved

CX, CG = 16, 32


def _module(**kwargs):
    torch.manual_seed(0)
    return AttentionGate(in_channels=CX, gating_channels=CG, **kwargs)


class _GatedBy(nn.Module):
    """The gate with a fixed gating signal, so the one-input contract checks apply."""

    def __init__(self, gate, g):
        super().__init__()
        self.gate = gate
        self.register_buffer('g', g)

    def forward(self, x):
        return self.gate(x, self.g)


@pytest.mark.parametrize('x_size,g_size', [((23, 31), (12, 16)), ((8, 8), (4, 4)),
                                           ((7, 9), (7, 9))])
def test_shapes_with_a_coarser_gating_signal(x_size, g_size):
    m = _module().eval()
    x, g = torch.randn(2, CX, *x_size), torch.randn(2, CG, *g_size)
    with torch.no_grad():
        out, alpha = m(x, g, return_attention=True)
    assert out.shape == x.shape and alpha.shape == (2, 1, *x_size)
    assert ((alpha > 0) & (alpha < 1)).all()
    torch.testing.assert_close(out, x * alpha)


def test_contract_with_a_fixed_gating_signal():
    g = torch.randn(2, CG, 12, 16)
    wrapped = _GatedBy(_module(), g)
    assert_shape_preserved(wrapped, CX, sizes=((23, 31), (24, 32)))
    assert_amp_finite(wrapped, CX)
    assert_deterministic(wrapped, CX)


def test_matches_the_paper_equations_with_g_upsampled():
    m = _module(hidden_channels=8).eval()
    x, g = torch.randn(2, CX, 23, 31), torch.randn(2, CG, 12, 16)
    with torch.no_grad():
        g_up = F.interpolate(g, size=(23, 31), mode='bilinear', align_corners=False)
        wx = F.conv2d(x, m.theta_x.weight)
        wg = F.conv2d(g_up, m.phi_g.weight, m.phi_g.bias)
        q = F.conv2d(torch.relu(wx + wg), m.psi.weight, m.psi.bias)  # Eq. 1
        expected = x * torch.sigmoid(q)  # Eq. 2
        torch.testing.assert_close(m(x, g), expected, atol=1e-5, rtol=1e-5)


def test_attention_maps_give_the_forward_alpha():
    """The protocol's map is the alpha the forward multiplies the skip with."""
    x, g = torch.randn(1, CX, 9, 11), torch.randn(1, CG, 5, 6)
    m = _module().eval()
    out, alpha = m(x, g, return_attention=True)
    (amap, ) = m.attention_maps(x, g)
    assert amap.query is None and amap.label == 'gate alpha' and not amap.maps.requires_grad
    torch.testing.assert_close(amap.maps, alpha[:, 0].detach())
    torch.testing.assert_close(out, x * amap.maps[:, None])


def test_onnx_parity_with_two_inputs():
    import onnxruntime as ort
    m = _module().eval()
    x, g = torch.randn(1, CX, 23, 31), torch.randn(1, CG, 12, 16)
    with torch.no_grad():
        ref = m(x, g)
    buf = io.BytesIO()
    torch.onnx.export(copy.deepcopy(m), (x, g), buf, opset_version=17, input_names=['x', 'g'],
                      output_names=['y'], dynamo=True, verbose=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    out = torch.from_numpy(sess.run(None, {'x': x.numpy(), 'g': g.numpy()})[0])
    assert (out - ref).abs().max().item() <= 1e-4


def test_build_paths():
    built = MODELS.build(dict(type='AttentionGate', in_channels=8, gating_channels=4))
    assert isinstance(built, AttentionGate) and built.hidden_channels == 4
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.AttentionGate', gating_channels=CG,
                                          hidden_channels=6), in_channels=CX)
    assert name == 'attention_gate' and layer.theta_x.out_channels == 6


@pytest.mark.parametrize('x_size,g_size', [((23, 31), (12, 16)), ((8, 8), (4, 4)),
                                           ((7, 9), (3, 4))])
def test_authors_variant_shapes_and_map(x_size, g_size):
    """variant='authors' (ozan-oktay/Attention-Gated-Networks; equality with their code is
    tests/golden/test_authors_attention_gate.py): a 2x2 strided theta, alpha resized to x,
    output BN(conv1x1(x * alpha)); the map is that alpha."""
    m = _module(variant='authors').eval()
    assert m.theta_x.weight.shape == (CX // 2, CX, 2, 2)
    x, g = torch.randn(2, CX, *x_size), torch.randn(2, CG, *g_size)
    with torch.no_grad():
        out, alpha = m(x, g, return_attention=True)
        assert out.shape == x.shape and alpha.shape == (2, 1, *x_size)
        torch.testing.assert_close(out, m.output_transform(x * alpha))
        torch.testing.assert_close(m.attention_maps(x, g)[0].maps, alpha[:, 0])
    assert_amp_finite(_GatedBy(m, torch.randn(2, CG, 12, 16)), CX)
    assert_deterministic(_GatedBy(m, torch.randn(2, CG, 12, 16)), CX)
    with pytest.raises(ValueError, match='AttentionGate: variant must be one of'):
        _module(variant='paper2')
