"""Tests of attnplug.layers.gated_channel_transformation (GatedChannelTransformation, GCT): the
authors' code through golden records (l2 and l1 modes), the paper's Eq. 1-3, the identity at
init, the plugin contract, and discovery by the registry."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import GatedChannelTransformation as GCT
from attnplug.testing import (assert_identity_at_init, assert_layer_contract,
                              assert_matches_golden, assert_onnx_parity, load_golden, perturb)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors'


@pytest.mark.parametrize('record_name', ['gated_channel_transformation.pt',
                                         'gated_channel_transformation-l1.pt'])
def test_matches_the_authors_code(record_name):
    """z-x-yang/GCT's GCT(64) in l2 and l1 mode on seeded weights, 2×64×23×31; its state-dict
    keys are attnplug's."""
    record = load_golden(GOLDEN / record_name)
    kwargs = record['authors_kwargs']
    m = GCT(in_channels=kwargs['num_channels'], mode=kwargs['mode'])
    diffs = assert_matches_golden(m, record, record['state_dict'])
    assert set(diffs) == {'train', 'eval'}


def test_equals_the_paper_equations():
    """Eq. 1-3 with the paper's √C / ‖s‖₂ normalisation, in float64 (ε only differs in where
    it is added, so it is set to 0 on both sides)."""
    m = perturb(GCT(C, eps=0.0), seed=1)
    x = torch.randn(2, C, 23, 31).double()
    alpha, gamma, beta = (p.detach().double().flatten() for p in (m.alpha, m.gamma, m.beta))
    s = alpha * x.square().sum((2, 3)).sqrt()  # Eq. 1, (N, C)
    s_hat = C**0.5 * s / s.square().sum(1, keepdim=True).sqrt()  # Eq. 2
    expected = x * (1 + torch.tanh(gamma * s_hat + beta))[:, :, None, None]  # Eq. 3
    with torch.no_grad():
        torch.testing.assert_close(m(x.float()), expected.float(), atol=1e-5, rtol=1e-5)


def test_identity_at_init():
    """The paper's init (α = 1, γ = β = 0) gives the gate 1: built, and after a backbone's
    Kaiming init followed by init_weights()."""
    x = torch.randn(2, C, 9, 11)
    with torch.no_grad():
        assert torch.equal(GCT(C)(x), x) and torch.equal(GCT(C, mode='l1')(x), x)
    m = perturb(GCT(C))  # trained weights ...
    assert not torch.equal(m(x), x)
    assert_identity_at_init(m, C)  # ... are reset by init_weights()


def test_contract():
    m = perturb(GCT(C))
    assert_layer_contract(m, C)


def test_fp16_input_does_not_overflow():
    """Σ x² over 64×64 positions of magnitude 10 is 4e5 > fp16's 65504: fp32 embedding."""
    m = perturb(GCT(C))
    x = torch.randn(1, C, 64, 64) * 10
    with torch.no_grad():
        y = m(x.half())
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), m(x.half().float()), atol=2e-2, rtol=2e-3)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(GCT(C)), C)
    assert_onnx_parity(perturb(GCT(C, mode='l1', after_relu=True)), C)


def test_plugin_name_and_mode_check():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.GatedChannelTransformation',
                                          mode='l1'), in_channels=C)
    assert name == 'gct' and isinstance(layer, GCT) and layer.mode == 'l1'
    with pytest.raises(ValueError, match=r"GatedChannelTransformation: mode must be 'l2' or "
                                         r"'l1', got 'l3'"):
        GCT(C, mode='l3')


def test_parameter_count():
    """3 · C, as docs/modules/grouped_and_gated.md says."""
    for c in (16, 256):
        assert sum(p.numel() for p in GCT(c).parameters()) == 3 * c
