"""Tests of attnplug.layers.external_attention: the authors' External_attention through its
golden record, Eq. 5-8 written out with two independent memories, linearity in N, the
identity start, the plugin contract and the query maps."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from attnplug.layers import ExternalAttention
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_matches_golden, assert_no_quadratic_tensor,
                              assert_onnx_parity, assert_shape_preserved, load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'external-attention.pt'


def test_matches_the_authors_code():
    """MenghaoGuo/EANet model_torch.py External_attention(64) (with its ReLU after the sum),
    train and eval; the keys are theirs."""
    record = load_golden(GOLDEN)
    assert record['provenance']['cls'] == 'External_attention'
    m = ExternalAttention(record['authors_kwargs']['c'], act_cfg=dict(type='ReLU'))
    diffs = assert_matches_golden(m, record, dict(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


def naive_external_attention(m, x):
    """Eq. 5-8 in float64, position by position, with the block around it (eval-mode BN)."""
    m = m.double().eval()
    x = x.double()
    b, c, h, w = x.shape
    f = m.conv1(x).flatten(2).transpose(1, 2)  # (B, N, C)
    mk, mv = m.linear_0.weight[:, :, 0], m.linear_1.weight[:, :, 0]  # (S, C), (C, S)
    logits = f @ mk.T  # (B, N, S)
    attn = torch.exp(logits - logits.max(1, keepdim=True).values)
    attn = attn / attn.sum(1, keepdim=True)  # softmax over positions
    attn = attn / (1e-9 + attn.sum(2, keepdim=True))  # l1 over units
    out = (attn @ mv.T).transpose(1, 2).reshape(b, c, h, w)
    return m.conv2(out) + x


def test_two_independent_memories_written_out():
    m = perturb(ExternalAttention(C, hidden_channels=8))
    assert not torch.equal(m.linear_1.weight[:, :, 0], m.linear_0.weight[:, :, 0].T)
    x = torch.randn(2, C, 5, 7)
    expected = naive_external_attention(m.double(), x)
    torch.testing.assert_close(m.eval()(x.double()), expected, atol=1e-10, rtol=1e-10)


def test_memory_value_starts_as_the_key_transposed():
    m = ExternalAttention(C, hidden_channels=8)
    assert torch.equal(m.linear_1.weight[:, :, 0], m.linear_0.weight[:, :, 0].T)
    assert m.linear_1.weight.data_ptr() != m.linear_0.weight.data_ptr()  # not tied


def test_linear_in_the_number_of_positions():
    """No intermediate reaches N², and the largest grows as N: 4x positions, 4x tensor."""
    m = perturb(ExternalAttention(C))
    small = assert_no_quadratic_tensor(m, C, size=(20, 20))
    large = assert_no_quadratic_tensor(m, C, size=(40, 40))
    assert large == 4 * small == 4 * 64 * 20 * 20  # S x N, the attention


def test_identity_at_init():
    assert_identity_at_init(ExternalAttention(C), C)
    assert_identity_at_init(ExternalAttention(C, norm_cfg=None), C)


def test_contract():
    m = perturb(ExternalAttention(C))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(ExternalAttention(C)), C)


def test_query_map_is_the_top_unit_of_the_query():
    m = perturb(ExternalAttention(C, hidden_channels=8)).eval()
    x = torch.randn(2, C, 9, 11)
    (amap, ) = m.attention_maps(x, queries=[(0.0, 1.0)])  # bottom-left cell
    assert amap.maps.shape == (2, 9, 11) and amap.query == (0.0, 1.0)
    attn = m._attention(x).detach()
    for i in range(2):
        unit = attn[i, :, 8 * 11].argmax()
        torch.testing.assert_close(amap.maps[i], attn[i, unit].view(9, 11))
        assert amap.maps[i].sum().item() == pytest.approx(attn[i, unit].sum().item())


def test_plugin_name_and_options():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.ExternalAttention', hidden_channels=8),
                                     in_channels=C)
    assert name == 'external_attn' and layer.linear_0.out_channels == 8
    assert isinstance(ExternalAttention(C, act_cfg=dict(type='ReLU')).activation, nn.ReLU)
    with pytest.raises(ValueError, match=r'ExternalAttention: hidden_channels \(the memory size '
                       r'S\) must be >= 1, got 0'):
        ExternalAttention(C, hidden_channels=0)
