"""Tests of attnplug.layers.shuffle_attention (ShuffleAttention, SA-Net): the authors' code
through a golden record, Eq. 1-3 written out per group, the plugin contract, the groups check,
and discovery by the registry and the attention-map tools."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnplug.layers import ShuffleAttention
from attnplug.testing import (assert_layer_contract, assert_matches_golden, assert_onnx_parity,
                              load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'shuffle_attention.pt'


def test_matches_the_authors_code():
    """wofmanaf/SA-Net's sa_layer(64, groups=8) on seeded weights, 2×64×23×31; its state-dict
    keys are attnplug's."""
    record = load_golden(GOLDEN)
    kwargs = record['authors_kwargs']
    m = ShuffleAttention(in_channels=kwargs['channel'], groups=kwargs['groups'])
    diffs = assert_matches_golden(m, record, record['state_dict'])
    assert set(diffs) == {'train', 'eval'}


def _naive(m, x):
    """Eq. 1-3 per group and half, then the shuffle written as an index map."""
    b, c, h, w = x.shape
    g, half = m.groups, c // (2 * m.groups)
    before = torch.empty_like(x)
    for k in range(g):
        base = k * 2 * half
        xc, xs = x[:, base:base + half], x[:, base + half:base + 2 * half]
        s = xc.mean((2, 3), keepdim=True)  # Eq. 1
        before[:, base:base + half] = xc * torch.sigmoid(m.cweight * s + m.cbias)  # Eq. 2
        gn = F.group_norm(xs, half, m.gn.weight, m.gn.bias, m.gn.eps)
        before[:, base + half:base + 2 * half] = xs * torch.sigmoid(m.sweight * gn + m.sbias)
    # shuffle with 2 groups: channel i of the first half goes to 2i, of the second to 2i + 1
    order = [j for i in range(c // 2) for j in (i, i + c // 2)]
    return before[:, order]


@pytest.mark.parametrize('groups,size', [(2, (23, 31)), (8, (1, 5)), (1, (7, 7))])
def test_equals_the_equations(groups, size):
    m = perturb(ShuffleAttention(C, groups=groups), seed=1)
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _naive(m, x), atol=1e-5, rtol=1e-5)


def test_official_init_scales_by_sigmoid_one_and_shuffles():
    """Not an identity at init: σ(1) on every channel, then the shuffle."""
    m = ShuffleAttention(C, groups=2)
    x = torch.randn(2, C, 5, 7)
    order = [j for i in range(C // 2) for j in (i, i + C // 2)]
    torch.testing.assert_close(m(x), x[:, order] * torch.sigmoid(torch.tensor(1.0)))


def test_groups_default_and_check():
    assert ShuffleAttention(256).groups == 64 and ShuffleAttention(16).groups == 8
    assert ShuffleAttention(96).groups == 48
    with pytest.raises(ValueError, match=r'ShuffleAttention: groups=3 must divide '
                                         r'in_channels / 2 \(in_channels=16\); expected one '
                                         r'of 1, 2, 4, 8'):
        ShuffleAttention(16, groups=3)
    with pytest.raises(ValueError, match='ShuffleAttention: in_channels=15 must be a multiple '
                                         'of 2'):
        ShuffleAttention(15)


def test_contract():
    m = perturb(ShuffleAttention(C, groups=2))
    assert_layer_contract(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(ShuffleAttention(C, groups=2)), C)


def test_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.ShuffleAttention', groups=4),
                                     in_channels=C)
    assert name == 'shuffle_attention' and isinstance(layer, ShuffleAttention)
    assert layer.groups == 4 and tuple(layer.cweight.shape) == (1, 2, 1, 1)


def test_parameter_count():
    """6 · C / 2G, as docs/modules/grouped_and_gated.md says."""
    for c, g in ((256, 64), (64, 8), (16, 2)):
        params = ShuffleAttention(c, groups=g).parameters()
        assert sum(p.numel() for p in params) == 6 * c // (2 * g)
def test_attention_map_rebuilds_the_forward():
    m = perturb(ShuffleAttention(C, groups=2), seed=3).eval()
    x = torch.randn(2, C, 9, 11).abs() + 0.1
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11) and amap.query is None
    with torch.no_grad():
        y = m(x)
    unshuffled = y.reshape(2, C // 2, 2, 9, 11).transpose(1, 2).reshape(2, C, 9, 11)
    ratio = (unshuffled / x).reshape(2, 2, 2, C // 4, 9, 11)[:, :, 1]  # spatial halves
    torch.testing.assert_close(amap.maps, ratio.mean((1, 2)), atol=1e-5, rtol=1e-5)
