"""Tests of attnplug.layers.large_kernel_attention (LKA): VAN's Attention block through its
golden record, the identity start, the kernel arguments, the plugin contract and the map."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import LargeKernelAttention
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_matches_golden, assert_no_quadratic_tensor,
                              assert_onnx_parity, assert_shape_preserved, load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'lka.pt'


def test_matches_the_authors_code():
    """Visual-Attention-Network/VAN-Classification Attention(64) (proj_1, GELU, LKA, proj_2,
    shortcut); the keys are theirs."""
    record = load_golden(GOLDEN)
    assert record['provenance']['cls'] == 'Attention'
    m = LargeKernelAttention(record['authors_kwargs']['d_model'])
    diffs = assert_matches_golden(m, record, dict(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


def test_the_decomposition_of_the_paper():
    """K=21, d=3: a 5x5 depth-wise conv, then a 7x7 depth-wise conv with dilation 3 (padding 9)."""
    lka = LargeKernelAttention(C).spatial_gating_unit
    assert (lka.conv0.kernel_size, lka.conv0.padding, lka.conv0.groups) == ((5, 5), (2, 2), C)
    assert (lka.conv_spatial.kernel_size, lka.conv_spatial.dilation,
            lka.conv_spatial.padding) == ((7, 7), (3, 3), (9, 9))
    other = LargeKernelAttention(C, kernel_size=10, dilation=2).spatial_gating_unit
    assert other.conv0.kernel_size == (3, 3) and other.conv_spatial.kernel_size == (5, 5)
    with pytest.raises(ValueError, match=r'LargeKernelAttention: kernel_size must be a multiple '
                       r'of dilation with an odd quotient.*kernel_size=12, dilation=3'):
        LargeKernelAttention(C, kernel_size=12, dilation=3)


def test_identity_at_init():
    assert_identity_at_init(LargeKernelAttention(C), C)


def test_contract():
    m = perturb(LargeKernelAttention(C))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_no_quadratic_tensor(m, C, size=(20, 20))  # convolutions only


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(LargeKernelAttention(C)), C)


def test_attention_map_is_the_forward_weighting():
    """The map is the channel mean of the factor LKA multiplies its input by: with proj_1 the
    identity, no activation and a positive input, LKA(u) / u recovers that factor."""
    m = perturb(LargeKernelAttention(C, act_cfg=None)).eval()
    with torch.no_grad():
        m.proj_1.weight.copy_(torch.eye(C)[:, :, None, None])
        m.proj_1.bias.zero_()
    x = torch.rand(2, C, 9, 11) + 1
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11)
    with torch.no_grad():
        rebuilt = m.spatial_gating_unit(x) / x
    torch.testing.assert_close(rebuilt.mean(1), amap.maps, atol=1e-4, rtol=1e-4)


def test_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.LargeKernelAttention'), in_channels=C)
    assert name == 'lka' and isinstance(layer, LargeKernelAttention)
