"""Tests of attnplug.layers.triplet_attention (TripletAttention): the authors' code through a
golden record, the plugin contract, and discovery by the registry and the attention-map tools."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import TripletAttention
from attnplug.testing import (assert_layer_contract, assert_matches_golden, assert_onnx_parity,
                              load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'triplet_attention.pt'


def from_authors_keys(state_dict):
    """The official ``<branch>.conv.conv.*`` / ``<branch>.conv.bn.*`` are ``<branch>.conv.*`` /
    ``<branch>.norm.*`` here."""
    return {k.replace('.conv.conv.', '.conv.').replace('.conv.bn.', '.norm.'): v
            for k, v in state_dict.items()}


def test_matches_the_authors_code():
    """LandskapeAI/triplet-attention's TripletAttention on seeded weights, 2×64×23×31, train
    (batch statistics) and eval (running statistics)."""
    record = load_golden(GOLDEN)
    assert record['provenance']['cls'] == 'TripletAttention'
    m = TripletAttention(in_channels=record['inputs'][0].shape[1], **record['authors_kwargs'])
    diffs = assert_matches_golden(m, record, from_authors_keys(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


def _naive(m, x):
    """Eq. 2 as the paper draws it: rotate χ, gate each rotated copy, rotate back, average."""
    def gate(branch, t):  # t: (N, A, B, D), pool over A
        pooled = torch.cat([t.amax(1, keepdim=True), t.mean(1, keepdim=True)], 1)
        return t * branch.gate(branch.norm(branch.conv(pooled)))

    cw = gate(m.cw, x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
    hc = gate(m.hc, x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
    if m.hw is None:
        return (cw + hc) / 2
    return (gate(m.hw, x) + cw + hc) / 3


@pytest.mark.parametrize('no_spatial', [False, True])
@pytest.mark.parametrize('size', [(23, 31), (1, 5)])
def test_equals_the_rotated_branches(no_spatial, size):
    m = perturb(TripletAttention(C, no_spatial=no_spatial, kernel_size=5), seed=2).eval()
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        torch.testing.assert_close(m(x), _naive(m, x), atol=1e-6, rtol=1e-5)
    assert (m.hw is None) == no_spatial


def test_contract():
    m = TripletAttention(C)
    # three 1-channel gates: nothing near N×N (bounded, like CBAM)
    assert_layer_contract(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(TripletAttention(C)), C)


def test_plugin_name_and_options():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.TripletAttention', kernel_size=3),
                                     in_channels=C, postfix=1)
    assert name == 'triplet_attention1' and isinstance(layer, TripletAttention)
    assert layer.cw.conv.kernel_size == (3, 3)
    with pytest.raises(ValueError, match='TripletAttention: kernel_size must be odd'):
        TripletAttention(C, kernel_size=4)
    bare = TripletAttention(C, norm_cfg=None)
    assert not any('norm' in k for k in bare.state_dict())


def test_parameter_count_does_not_depend_on_channels():
    """3 × (2·k² conv weights + 2 BN), as docs/modules/grouped_and_gated.md says."""
    for c in (16, 256):
        assert sum(p.numel() for p in TripletAttention(c).parameters()) == 300
    assert sum(p.numel() for p in TripletAttention(c, kernel_size=3).parameters()) == 60
def test_attention_maps_rebuild_the_forward():
    m = perturb(TripletAttention(C), seed=3).eval()
    x = torch.randn(2, C, 9, 11).abs() + 0.1  # no division by zero below
    weight, spatial = m.attention_maps(x)
    assert weight.maps.shape == spatial.maps.shape == (2, 9, 11) and weight.query is None
    with torch.no_grad():
        torch.testing.assert_close(weight.maps, (m(x) / x).mean(1), atol=1e-5, rtol=1e-5)
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        torch.testing.assert_close(spatial.maps, torch.sigmoid(m.hw.norm(m.hw.conv(pooled)))[:, 0])
    assert len(TripletAttention(C, no_spatial=True).attention_maps(x)) == 1
