"""Tests of attnplug.layers.contextual_transformer (CoT): the authors' CotLayer through its
golden record, the local aggregation against the Unfold formula, the channel constraints, the
plugin contract and the query maps."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnplug.layers import ContextualTransformer
from attnplug.layers.contextual_transformer import local_aggregation
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_matches_golden,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'cot.pt'


def test_matches_the_authors_code():
    """JDAI-CV/CoTNet CotLayer(64, 3) (local aggregation by their Unfold formula), train and
    eval; the keys are theirs."""
    record = load_golden(GOLDEN)
    assert record['provenance']['cls'] == 'CotLayer'
    kwargs = record['authors_kwargs']
    m = ContextualTransformer(kwargs['dim'], kernel_size=kwargs['kernel_size'])
    diffs = assert_matches_golden(m, record, dict(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
def test_local_aggregation_equals_the_unfold_formula(kernel_size):
    """The shifted-copy sum equals the Unfold formula the authors test their CUDA kernel
    against, in float64, at an odd size, with channels sharing weights modulo the groups."""
    g = torch.Generator().manual_seed(0)
    value = torch.randn(2, 12, 7, 9, generator=g, dtype=torch.float64)
    weight = torch.randn(2, 3, kernel_size**2, 7, 9, generator=g, dtype=torch.float64)
    x2 = F.unfold(value, kernel_size, padding=kernel_size // 2).view(2, 4, 3, kernel_size**2, 7, 9)
    expected = (weight.unsqueeze(1) * x2).sum(-3).view(2, 12, 7, 9)
    torch.testing.assert_close(local_aggregation(value, weight, kernel_size), expected)
    # and one output written out: channel 5 uses weight channel 5 mod 3 = 2
    y, x, r = 3, 4, kernel_size // 2
    window = F.pad(value, (r, r, r, r))[0, 5, y:y + kernel_size, x:x + kernel_size]
    manual = (weight[0, 2, :, y, x].view(kernel_size, kernel_size) * window).sum()
    torch.testing.assert_close(local_aggregation(value, weight, kernel_size)[0, 5, y, x], manual)


def test_contract():
    m = perturb(ContextualTransformer(C))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_no_quadratic_tensor(m, C, size=(20, 20), batch=2)  # local: k² N at most


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(ContextualTransformer(C)), C)


def test_query_map_is_the_local_attention_of_the_query():
    m = perturb(ContextualTransformer(C)).eval()
    x = torch.randn(2, C, 9, 11)
    corner, centre = m.attention_maps(x, queries=[(0.0, 0.0), (0.5, 0.5)])
    attn = m._local_attention(x, m.key_embed(x)).detach().mean(1)  # (B, 9, H, W)
    # the centre cell (4, 5): its 3x3 window, nothing outside it
    torch.testing.assert_close(centre.maps[:, 3:6, 4:7], attn[:, :, 4, 5].view(2, 3, 3))
    assert centre.maps.abs().sum() == pytest.approx(attn[:, :, 4, 5].abs().sum().item(), rel=1e-5)
    # the corner cell (0, 0): the taps that fall off the map are cut
    torch.testing.assert_close(corner.maps[:, :2, :2], attn[:, :, 0, 0].view(2, 3, 3)[:, 1:, 1:])


def test_channel_constraints_name_the_argument():
    with pytest.raises(ValueError, match=r'ContextualTransformer: in_channels must be a multiple '
                       r'of share_planes=8, got in_channels=12'):
        ContextualTransformer(12)
    with pytest.raises(ValueError, match=r'multiple of key_groups=4, got in_channels=18'):
        ContextualTransformer(18, share_planes=2)
    with pytest.raises(ValueError, match=r'ContextualTransformer: kernel_size must be odd'):
        ContextualTransformer(C, kernel_size=4)
    assert ContextualTransformer(12, share_planes=4, key_groups=3)(torch.randn(2, 12, 5, 5)).shape \
        == (2, 12, 5, 5)


def test_plugin_name():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.ContextualTransformer'), in_channels=C)
    assert name == 'cot' and isinstance(layer, ContextualTransformer)
