"""Tests of attnplug.layers.polarized_self_attention (PSA): both variants against the authors'
PSA_p / PSA_s through golden records, linearity in N, the plugin contract and the map."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import PolarizedSelfAttention
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_matches_golden,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors'
# the authors' key prefixes -> attnplug's (the layer docstring lists them)
KEYS = {'conv_q_right': 'channel_query', 'conv_v_right': 'channel_value', 'conv_up': 'channel_up',
        'conv_q_left': 'spatial_query', 'conv_v_left': 'spatial_value'}
VARIANTS = ('parallel', 'sequential')


def map_authors_keys(state_dict):
    out = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition('.')
        out[f'{KEYS[head]}.{rest}'] = value
    return out


@pytest.mark.parametrize('variant', VARIANTS)
def test_matches_the_authors_code(variant):
    """DeLightCMU/PSA PSA_p (parallel) and PSA_s (sequential) at 64 channels, train and eval."""
    record = load_golden(GOLDEN / f'psa-{variant}.pt')
    assert record['provenance']['cls'] == {'parallel': 'PSA_p', 'sequential': 'PSA_s'}[variant]
    m = PolarizedSelfAttention(record['authors_kwargs']['inplanes'], variant=variant)
    diffs = assert_matches_golden(m, record, map_authors_keys(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


def test_the_authors_parallel_spatial_gate_stays_near_one_half():
    """The departure the docstring names: PSA_p softmaxes over the positions before its
    sigmoid, so on the record's 23x31 map (713 positions) the spatial gate is within 0.01 of
    0.5 everywhere, while the channel gate spreads."""
    record = load_golden(GOLDEN / 'psa-parallel.pt')
    m = PolarizedSelfAttention(64).eval()
    m.load_state_dict(map_authors_keys(record['state_dict']))
    with torch.no_grad():
        spatial = m._spatial_gate(record['inputs'][0])
        channel = m._channel_gate(record['inputs'][0])
    assert (spatial - 0.5).abs().max() < 0.01
    assert channel.max() - channel.min() > 0.1


@pytest.mark.parametrize('variant', VARIANTS)
def test_linear_in_the_number_of_positions(variant):
    """No intermediate reaches N² (forward and backward), and the largest one grows exactly
    as N: 4x the positions, 4x the largest tensor (it is C·N, the input's own size)."""
    m = PolarizedSelfAttention(C, variant=variant)
    small = assert_no_quadratic_tensor(m, C, size=(20, 20))
    large = assert_no_quadratic_tensor(m, C, size=(40, 40))
    assert large == 4 * small == 4 * C * 20 * 20


@pytest.mark.parametrize('variant', VARIANTS)
def test_contract(variant):
    m = perturb(PolarizedSelfAttention(C, variant=variant))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


@pytest.mark.parametrize('variant', VARIANTS)
def test_onnx_parity(variant):
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(PolarizedSelfAttention(C, variant=variant)), C)


@pytest.mark.parametrize('variant', VARIANTS)
def test_attention_map_is_the_forward_spatial_gate(variant):
    """The parallel output minus its channel-gated half is the spatial gate times x; the
    sequential output divided by its channel-gated input is the spatial gate."""
    m = perturb(PolarizedSelfAttention(C, variant=variant)).eval()
    x = torch.randn(2, C, 9, 11)
    (amap, ) = m.attention_maps(x)
    assert amap.maps.shape == (2, 9, 11) and amap.query is None
    with torch.no_grad():
        y = x * m._channel_gate(x)
        rebuilt = (m(x) - y) / x if variant == 'parallel' else m(x) / y
    torch.testing.assert_close(rebuilt.mean(1), amap.maps, atol=1e-4, rtol=1e-4)


def test_plugin_name_and_options():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.PolarizedSelfAttention',
                                          variant='sequential'), in_channels=C)
    assert name == 'polarized_attn' and layer.variant == 'sequential'
    assert PolarizedSelfAttention(C, hidden_channels=4).spatial_value.out_channels == 4
    with pytest.raises(ValueError, match="PolarizedSelfAttention: variant must be one of"):
        PolarizedSelfAttention(C, variant='both')


def test_channel_constraint_message():
    """The sequential W_z bottleneck needs hidden // 4 >= 1: C = 6 gives hidden 3."""
    with pytest.raises(ValueError, match=r"PolarizedSelfAttention: variant='sequential' needs "
                       r'a hidden width of at least 4.*hidden_channels=3'):
        PolarizedSelfAttention(6, variant='sequential')
    PolarizedSelfAttention(6)  # the parallel variant has no such floor
