"""Tests of attnplug.layers.danet (PositionAttention, ChannelAttention) against mmseg's PAM/CAM."""
import pytest
import torch

from attnplug.layers import ChannelAttention, PositionAttention
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, perturb)


C = 32


def naive_pam(m, x):
    """Eq. 1-2 of arXiv 1809.02983 with the full N×N map."""
    b, c, h, w = x.shape
    q = m.query_project(x).flatten(2).transpose(1, 2).double()
    k = m.key_project(x).flatten(2).double()
    v = m.value_project(x).flatten(2).double()
    s = (q @ k).softmax(-1)  # s[j, i]: query j, key i
    out = (v @ s.transpose(1, 2)).reshape(b, c, h, w).float()
    return m.gamma.scale * out + x


def test_pam_matches_mmseg_with_copied_weights():
    from mmseg.models.decode_heads.da_head import PAM
    ref = perturb(PAM(C, C // 8)).eval()
    ours = PositionAttention(in_channels=C).eval()
    assert ours.channels == C // 8
    ours.load_state_dict(ref.state_dict())  # strict: the keys of mmseg's PAM
    assert set(ref.state_dict()) == {
        'key_project.weight', 'key_project.bias', 'query_project.weight', 'query_project.bias',
        'value_project.weight', 'value_project.bias', 'gamma.scale'}
    for size in ((23, 31), (1, 5), (7, 7)):
        x = torch.randn(2, C, *size)
        with torch.no_grad():
            expected = ref(x)
            assert (expected - x).abs().max() > 1e-2
            torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=0)


def test_pam_chunked_path_equals_naive_formula():
    """A budget of 40 query rows at N = 23·31 = 713: 18 blocks, no N×N matrix."""
    x = torch.randn(2, C, 23, 31)
    ours = perturb(PositionAttention(C, memory_budget=4 * 2 * 713 * 40)).eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), naive_pam(ours, x), atol=1e-4, rtol=0)
        ours.block_size = 100
        torch.testing.assert_close(ours(x), naive_pam(ours, x), atol=1e-4, rtol=0)


def test_cam_matches_mmseg_with_copied_weights():
    from mmseg.models.decode_heads.da_head import CAM
    ref = CAM().eval()
    with torch.no_grad():
        ref.gamma.scale.fill_(0.7)
    ours = ChannelAttention(in_channels=C).eval()
    ours.load_state_dict(ref.state_dict())
    for size in ((23, 31), (1, 5)):
        x = torch.randn(2, C, *size)
        with torch.no_grad():
            expected = ref(x)
            assert (expected - x).abs().max() > 1e-2
            torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=0)


def test_dahead_modules_load_mmseg_dahead_weights():
    """A DAHead built from these modules can take mmseg's DAHead pam/cam weights as is."""
    from mmseg.models.decode_heads import DAHead
    head = DAHead(in_channels=16, channels=16, pam_channels=4, num_classes=3)
    pam, cam = PositionAttention(16, channels=4), ChannelAttention(16)
    pam.load_state_dict({k[4:]: v for k, v in head.state_dict().items() if k.startswith('pam.')})
    cam.load_state_dict({k[4:]: v for k, v in head.state_dict().items() if k.startswith('cam.')})


@pytest.mark.parametrize('cls,kwargs', [(PositionAttention, {}), (ChannelAttention, {}),
                                        (PositionAttention, dict(block_size=100))],
                         ids=['pam', 'cam', 'pam-checkpointed-blocks'])
def test_contract(cls, kwargs):
    m = perturb(cls(C, **kwargs))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_identity_at_init(m, C)  # init_weights() restores the identity from random weights


@pytest.mark.parametrize('cls,kwargs', [(PositionAttention, {}), (ChannelAttention, {}),
                                        (PositionAttention, dict(block_size=100))],
                         ids=['pam', 'cam', 'pam-8-blocks'])
def test_onnx_parity(cls, kwargs):
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(cls(C, **kwargs)).eval(), C)


def test_attention_row_for_visualisation():
    m = perturb(PositionAttention(C)).eval()
    x = torch.randn(2, C, 9, 13)
    point = ((7 + 0.5) / 13, (4 + 0.5) / 9)  # (x, y) fractions of the cell (row 4, col 7)
    (amap, ) = m.attention_maps(x, queries=[point])
    row = amap.maps
    assert row.shape == (2, 9, 13) and amap.query == point
    torch.testing.assert_close(row.sum((1, 2)), torch.ones(2))
    q = m.query_project(x).flatten(2).transpose(1, 2)
    k = m.key_project(x).flatten(2)
    full = (q @ k).softmax(-1)  # (B, N, N)
    torch.testing.assert_close(row.flatten(1), full[:, 4 * 13 + 7], atol=1e-5, rtol=0)
    # the map is the forward's attention: the output at the query is x + α Σ_j s_j D_j (Eq. 2)
    with torch.no_grad():
        out = m(x)
        v = m.value_project(x).flatten(2)  # (B, C, N)
    rebuilt = x[:, :, 4, 7] + m.gamma.scale * torch.einsum('bn,bcn->bc', row.flatten(1), v)
    torch.testing.assert_close(out[:, :, 4, 7], rebuilt, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match='fractions'):
        m.attention_maps(x, queries=[(1.5, 0.0)])


def test_build_plugin_layer():
    from mmcv.cnn import build_plugin_layer
    name, pam = build_plugin_layer(dict(type='attnplug.PositionAttention'), in_channels=64)
    assert name == 'pam' and isinstance(pam, PositionAttention) and pam.channels == 8
    name, cam = build_plugin_layer(dict(type='attnplug.ChannelAttention'), postfix=2,
                                   in_channels=64)
    assert name == 'cam2' and isinstance(cam, ChannelAttention)


@pytest.mark.parametrize('cls,kwargs', [(PositionAttention, dict(block_size=200)),
                                        (ChannelAttention, {})], ids=['pam', 'cam'])
def test_never_builds_n_by_n(cls, kwargs):
    """At 40×40 (N = 1600) no op output, forward or backward, has N² elements."""
    assert_no_quadratic_tensor(perturb(cls(C, **kwargs)), C, size=(40, 40))


def test_pam_default_budget_builds_one_block_when_it_fits():
    """Below the budget the whole score matrix is one block (the control of the test above)."""
    with pytest.raises(AssertionError, match='N×N map was built'):
        assert_no_quadratic_tensor(PositionAttention(C), C, size=(40, 40), grad=False)
