"""Tests of attnplug.layers.efficient_multiscale_attention (EMA): the authors' code through a
golden record, the paper's cross-spatial product written out, the plugin contract, the groups
check, and discovery by the registry and the attention-map tools."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnplug.layers import EfficientMultiScaleAttention as EMA
from attnplug.testing import (assert_layer_contract, assert_matches_golden, assert_onnx_parity,
                              load_golden, perturb)

C = 16
GOLDEN = (Path(__file__).resolve().parents[1] / 'golden' / 'authors'
          / 'efficient_multiscale_attention.pt')


def test_matches_the_authors_code():
    """YOLOonMe/EMA-attention-module's EMA(64, factor=32) on seeded weights, 2×64×23×31; its
    state-dict keys are attnplug's."""
    record = load_golden(GOLDEN)
    kwargs = record['authors_kwargs']
    m = EMA(in_channels=kwargs['channels'], groups=kwargs['factor'])
    assert m.groups == EMA(in_channels=kwargs['channels']).groups == 32  # the default
    diffs = assert_matches_golden(m, record, record['state_dict'])
    assert set(diffs) == {'train', 'eval'}


def _naive(m, x):
    """Each group on its own, with einsum for the cross-spatial product."""
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    cg = c // m.groups
    for i in range(b):
        for g in range(m.groups):
            xg = x[i:i + 1, g * cg:(g + 1) * cg]
            zh = xg.mean(3, keepdim=True)
            zw = xg.mean(2, keepdim=True)
            fh = m.conv1x1(zh)  # a 1×1 conv acts on each position alone
            fw = m.conv1x1(zw)
            x1 = F.group_norm(xg * fh.sigmoid() * fw.sigmoid(), cg, m.gn.weight, m.gn.bias,
                              m.gn.eps)
            x2 = m.conv3x3(xg)
            a = (torch.einsum('c,chw->hw', x1.mean((2, 3))[0].softmax(0), x2[0])
                 + torch.einsum('c,chw->hw', x2.mean((2, 3))[0].softmax(0), x1[0]))
            out[i, g * cg:(g + 1) * cg] = xg[0] * a.sigmoid()
    return out


@pytest.mark.parametrize('groups,size', [(4, (23, 31)), (16, (1, 5)), (1, (7, 7))])
def test_equals_the_grouped_formula(groups, size):
    m = perturb(EMA(C, groups=groups), seed=1)
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _naive(m, x), atol=1e-5, rtol=1e-5)


def test_groups_default_and_check():
    assert EMA(512).groups == 32 and EMA(16).groups == 16 and EMA(48).groups == 24
    assert EMA(7).groups == 7
    with pytest.raises(ValueError, match=r'EfficientMultiScaleAttention: groups=5 must divide '
                                         r'in_channels \(in_channels=16\); expected one of '
                                         r'1, 2, 4, 8, 16'):
        EMA(16, groups=5)
    with pytest.raises(ValueError, match='groups=32'):
        EMA(16, groups=32)


def test_contract():
    m = EMA(C, groups=4)
    # one (H·W) map per group: linear in N
    assert_layer_contract(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(EMA(C, groups=4)), C)


def test_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.EfficientMultiScaleAttention',
                                          groups=8), in_channels=C)
    assert name == 'ema' and isinstance(layer, EMA) and layer.groups == 8


def test_parameter_count():
    """(C/G)² · 10 + 4 · C/G, as docs/modules/grouped_and_gated.md says."""
    for c, g in ((64, 32), (256, 32), (16, 4)):
        cg = c // g
        assert sum(p.numel() for p in EMA(c, groups=g).parameters()) == 10 * cg**2 + 4 * cg
def test_attention_map_rebuilds_the_forward():
    m = perturb(EMA(C, groups=4), seed=3).eval()
    x = torch.randn(2, C, 9, 11).abs() + 0.1
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11) and amap.query is None
    with torch.no_grad():
        ratio = (m(x) / x).reshape(2, 4, C // 4, 9, 11)
    # one gate per group, shared by its channels
    torch.testing.assert_close(ratio, ratio[:, :, :1].expand_as(ratio), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(amap.maps, ratio[:, :, 0].mean(1), atol=1e-5, rtol=1e-5)
