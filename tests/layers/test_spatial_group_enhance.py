"""Tests of attnplug.layers.spatial_group_enhance (SpatialGroupEnhance, SGE): the authors' code
through golden records, Eq. 1-5 written out, the plugin contract, the groups check, and
discovery by the registry and the attention-map tools."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import SpatialGroupEnhance as SGE
from attnplug.testing import (assert_layer_contract, assert_matches_golden, assert_onnx_parity,
                              load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors'


@pytest.mark.parametrize('record_name', ['spatial_group_enhance.pt',
                                         'spatial_group_enhance-g8.pt'])
def test_matches_the_authors_code(record_name):
    """implus/PytorchInsight's SpatialGroupEnhance(64) (one channel per group) and (8), on
    seeded weights, 2×64×23×31; its state-dict keys are attnplug's."""
    record = load_golden(GOLDEN / record_name)
    groups = record['authors_kwargs']['groups']
    m = SGE(in_channels=record['inputs'][0].shape[1], groups=groups)
    diffs = assert_matches_golden(m, record, record['state_dict'])
    assert set(diffs) == {'train', 'eval'}


def _naive(m, x):
    """Eq. 1-5 per image and group, in float64, with the official unbiased std."""
    b, c, h, w = x.shape
    x = x.double()
    out = torch.empty_like(x)
    cg = c // m.groups
    for i in range(b):
        for g in range(m.groups):
            xs = x[i, g * cg:(g + 1) * cg].reshape(cg, -1)  # (cg, m)
            mean = xs.mean(1, keepdim=True)  # Eq. 1
            sim = (xs * mean).sum(0)  # Eq. 2
            sim = sim - sim.mean()
            std = sim.std() if sim.numel() > 1 else torch.zeros((), dtype=sim.dtype)
            a = m.weight[0, g, 0, 0].double() * sim / (std + m.eps) + m.bias[0, g, 0, 0]
            out[i, g * cg:(g + 1) * cg] = (xs * torch.sigmoid(a)).reshape(cg, h, w)
    return out.float()


@pytest.mark.parametrize('groups,size', [(4, (23, 31)), (16, (1, 5)), (2, (1, 1))])
def test_equals_the_equations(groups, size):
    m = perturb(SGE(C, groups=groups), seed=1)
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _naive(m, x), atol=1e-5, rtol=1e-5)


def test_official_init_scales_by_sigmoid_one():
    x = torch.randn(2, C, 5, 7)
    torch.testing.assert_close(SGE(C)(x), x * torch.sigmoid(torch.tensor(1.0)))


def test_groups_default_and_check():
    assert SGE(256).groups == 64 and SGE(16).groups == 16 and SGE(96).groups == 48
    with pytest.raises(ValueError, match=r'SpatialGroupEnhance: groups=6 must divide '
                                         r'in_channels \(in_channels=16\); expected one of '
                                         r'1, 2, 4, 8, 16'):
        SGE(16, groups=6)


def test_contract():
    m = perturb(SGE(C, groups=4))
    assert_layer_contract(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(SGE(C, groups=4)), C)


def test_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.SpatialGroupEnhance', groups=4),
                                     in_channels=C)
    assert name == 'sge' and isinstance(layer, SGE) and tuple(layer.weight.shape) == (1, 4, 1, 1)


def test_parameter_count():
    """2 · G, as docs/modules/grouped_and_gated.md says."""
    for c, g in ((256, 64), (16, 4)):
        assert sum(p.numel() for p in SGE(c, groups=g).parameters()) == 2 * g
def test_attention_map_rebuilds_the_forward():
    m = perturb(SGE(C, groups=4), seed=3).eval()
    x = torch.randn(2, C, 9, 11).abs() + 0.1
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11) and amap.query is None
    with torch.no_grad():
        ratio = (m(x) / x).reshape(2, 4, C // 4, 9, 11)
    torch.testing.assert_close(ratio, ratio[:, :, :1].expand_as(ratio), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(amap.maps, ratio[:, :, 0].mean(1), atol=1e-5, rtol=1e-5)
