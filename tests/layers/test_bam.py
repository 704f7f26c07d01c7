"""Tests of attnplug.layers.bam (BAM)."""
import torch

from attnplug.layers import BAM
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_onnx_parity, assert_shape_preserved)

C = 32


def _module(gamma=None, **kwargs):
    torch.manual_seed(0)
    m = BAM(in_channels=C, **kwargs)
    if gamma is not None:  # leave the identity start, so the attention matters
        with torch.no_grad():
            m.gamma.scale.fill_(gamma)
    return m


def test_contract():
    m = _module(gamma=0.7)
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_keeps_a_half_precision_dtype():
    m = _module(gamma=0.5).eval().to(torch.bfloat16)
    x = torch.randn(1, C, 5, 6, dtype=torch.bfloat16)
    with torch.no_grad():
        assert m(x).dtype == torch.bfloat16
    m = _module(gamma=0.5).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert m(x).dtype == torch.bfloat16


def test_identity_at_init():
    assert_identity_at_init(_module(), C)
    # init_weights() restores the identity after training moved gamma
    assert_identity_at_init(_module(gamma=0.5), C)


def test_not_identity_once_gamma_moves():
    m = _module(gamma=1.0).eval()
    x = torch.randn(2, C, 8, 8)
    with torch.no_grad():
        assert (m(x) - x).abs().max() > 1e-3


def test_onnx_parity():
    assert_onnx_parity(_module(gamma=1.0), C)


def test_matches_the_paper_equations():
    m = _module(zero_init=False, reduction=4).eval()
    m.init_weights()
    assert m.gamma.scale.item() == 1.0
    x = torch.randn(2, C, 11, 9)
    with torch.no_grad():
        mc = m.channel_branch(x.mean(dim=(2, 3), keepdim=True))
        ms = m.spatial_branch(x)
        expected = x + x * torch.sigmoid(mc + ms)  # Eq. 1-2, broadcast C x H x W
        torch.testing.assert_close(m(x), expected, atol=1e-6, rtol=1e-6)
    assert mc.shape == (2, C, 1, 1) and ms.shape == (2, 1, 11, 9)


def test_spatial_branch_is_dilated():
    m = _module(dilation=4, num_dilated_convs=2)
    dilated = [c for c in m.spatial_branch
               if isinstance(c, torch.nn.Conv2d) and c.kernel_size == (3, 3)]
    assert [c.dilation for c in dilated] == [(4, 4), (4, 4)]
    # receptive field of the spatial branch: radius 2 * 4 = 8 around a pixel
    # (a linear branch, act_cfg=None, so that no ReLU can hide a change)
    m = _module(dilation=4, num_dilated_convs=2, act_cfg=None).eval()
    x = torch.zeros(1, C, 25, 25)
    with torch.no_grad():
        y0 = m.spatial_branch(x)
        x[:, :, 12, 12] = 5.0
        changed = (m.spatial_branch(x) - y0).abs()[0, 0] > 0
    rows = changed.any(dim=1).nonzero().flatten()
    assert rows.min().item() == 4 and rows.max().item() == 20


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.BAM', reduction=8), in_channels=C)
    assert name == 'bam' and isinstance(layer, BAM)
    assert isinstance(MODELS.build(dict(type='BAM', in_channels=16)), BAM)


def test_gain_keeps_its_saved_key_when_missing_or_loaded():
    """The gain is a Scale (``gamma.scale``) saved as ``gamma``: a checkpoint without it reports
    ``gamma`` missing (the key a checkpoint would hold), and one with it loads it."""
    m = BAM(16)
    result = torch.nn.Sequential(m).load_state_dict({}, strict=False)
    assert '0.gamma' in result.missing_keys and '0.gamma.scale' not in result.missing_keys
    state = {k: torch.full_like(v, 0.5) if k == 'gamma' else v for k, v in m.state_dict().items()}
    assert BAM(16).load_state_dict(state).missing_keys == []
    fresh = BAM(16)
    fresh.load_state_dict(state)
    assert float(fresh.gamma.scale) == 0.5


def test_authors_variant_contract():
    """variant='authors' (Jongchan/attention-module; equality with their code is
    tests/golden/test_authors_bam.py) keeps the contract at every shape, the ones where the
    authors' own code raises (H > W, W >= 2H) included."""
    from attnplug.testing import perturb
    m = perturb(_module(variant='authors', reduction=4))
    assert_shape_preserved(m, C, sizes=((23, 31), (31, 23), (7, 7), (1, 5), (5, 1)))
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    x = torch.randn(2, C, 9, 11)
    with torch.no_grad():
        att = m.eval()._attention(x)
        assert torch.allclose(m(x), x * (1 + att))
