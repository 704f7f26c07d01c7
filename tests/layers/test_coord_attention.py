"""Tests of attnplug.layers.coord_attention (CoordAttention)."""
import torch
import torch.nn.functional as F

from attnplug.layers import CoordAttention
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 32


def _module(**kwargs):
    torch.manual_seed(0)
    return CoordAttention(in_channels=C, **kwargs)


def test_contract():
    m = _module()
    assert_shape_preserved(m, C, sizes=((23, 31), (7, 7), (1, 5), (5, 1)))
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    assert_onnx_parity(_module(), C)


def _hswish(t):
    return t * torch.clamp(t + 3, 0, 6) / 6


def test_matches_the_paper_equations_on_a_non_square_map():
    m = _module(reduction=4).eval()
    with torch.no_grad():  # non-trivial BN statistics
        m.norm.running_mean.uniform_(-0.5, 0.5)
        m.norm.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, C, 5, 9)

    def conv1x1(t, conv):
        return F.conv2d(t, conv.weight, conv.bias)

    with torch.no_grad():
        # Eq. 4-5: 1D poolings; each is processed on its own, which is what the
        # concatenate -> shared conv -> split of Eq. 6 amounts to
        # (N, C, H, 1) and (N, C, W, 1)
        z_h = torch.stack([x[:, :, i, :].mean(-1) for i in range(5)], dim=-1)[..., None]
        z_w = torch.stack([x[:, :, :, j].mean(-1) for j in range(9)], dim=-1)[..., None]
        f_h = _hswish(m.norm(conv1x1(z_h, m.conv_shared)))
        f_w = _hswish(m.norm(conv1x1(z_w, m.conv_shared)))
        g_h = torch.sigmoid(conv1x1(f_h, m.conv_h))  # (N, C, H, 1)
        g_w = torch.sigmoid(conv1x1(f_w, m.conv_w)).reshape(2, C, 1, 9)
        torch.testing.assert_close(m(x), x * g_h * g_w, atol=1e-5, rtol=1e-5)


def test_directions_are_not_swapped():
    # a map constant along W but varying along H: g^h must vary along H only
    m = _module().eval()
    x = torch.randn(1, C, 6, 1).expand(1, C, 6, 10).contiguous()
    with torch.no_grad():
        ratio = m(x) / x
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio), atol=1e-5, rtol=1e-4)
    assert (ratio[:, :, 0] - ratio[:, :, 3]).abs().max() > 1e-4


def test_hidden_width():
    assert _module(reduction=32).conv_shared.out_channels == 8  # max(8, 32 // 32)
    assert CoordAttention(512).conv_shared.out_channels == 16


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.CoordAttention'), in_channels=C)
    assert name == 'coord_att' and isinstance(layer, CoordAttention)
    assert isinstance(MODELS.build(dict(type='CoordAttention', in_channels=16)), CoordAttention)
