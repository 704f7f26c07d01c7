"""Tests of attnplug.layers.non_local (NonLocal2d) against mmcv's NonLocal2d."""
import pytest
import torch

from attnplug.layers import NonLocal2d
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, perturb)


C = 16


def naive_non_local(m, x):
    """Eq. 1 and 6 of arXiv 1711.07971 written out with the full N×N matrix."""
    b, c, h, w = x.shape
    theta = m.theta(x) if m.mode != 'gaussian' else x
    phi = m.phi(x) if m.mode != 'gaussian' else x
    g = m.g(x)
    q = theta.flatten(2).transpose(1, 2).double()
    k = phi.flatten(2).double()
    v = g.flatten(2).transpose(1, 2).double()
    f = q @ k
    if m.mode == 'dot_product':
        p = f / f.shape[-1]
    else:
        if m.mode == 'embedded_gaussian' and m.use_scale:
            f = f / q.shape[-1]**0.5
        p = f.softmax(-1)
    y = (p @ v).transpose(1, 2).reshape(b, -1, h, w).float()
    return x + m.conv_out(y)


@pytest.mark.parametrize('mode', ['embedded_gaussian', 'dot_product', 'gaussian'])
@pytest.mark.parametrize('sub_sample', [False, True])
def test_matches_mmcv_with_copied_weights(mode, sub_sample):
    from mmcv.cnn import NonLocal2d as MMCVNonLocal2d
    torch.manual_seed(0)
    ref = perturb(MMCVNonLocal2d(C, mode=mode, sub_sample=sub_sample)).eval()
    ours = NonLocal2d(in_channels=C, mode=mode, sub_sample=sub_sample).eval()
    ours.load_state_dict(ref.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, C, 23, 31)
    with torch.no_grad():
        expected = ref(x)
        assert (expected - x).abs().max() > 1e-2  # the block does something
        torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=0)
        # the query-chunked path (7 rows per block) gives the same result
        ours.block_size = 7
        torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), dict(type='GN', num_groups=4)])
def test_matches_mmcv_with_norm_and_without_scale(norm_cfg):
    from mmcv.cnn import NonLocal2d as MMCVNonLocal2d
    ref = perturb(MMCVNonLocal2d(C, reduction=4, use_scale=False, norm_cfg=norm_cfg)).eval()
    ours = NonLocal2d(C, reduction=4, use_scale=False, norm_cfg=norm_cfg).eval()
    assert set(ours.state_dict()) == set(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, C, 9, 13)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-4, rtol=0)


@pytest.mark.parametrize('mode', ['embedded_gaussian', 'dot_product'])
def test_chunked_path_equals_naive_formula(mode):
    m = perturb(NonLocal2d(C, mode=mode, block_size=16)).eval()
    x = torch.randn(2, C, 11, 13)  # N = 143: 9 blocks, the last one 15 rows
    with torch.no_grad():
        torch.testing.assert_close(m(x), naive_non_local(m, x), atol=1e-4, rtol=0)


@pytest.mark.parametrize('kwargs', [dict(), dict(mode='dot_product', sub_sample=True),
                                    dict(norm_cfg=dict(type='BN'))])
def test_contract(kwargs):
    m = perturb(NonLocal2d(C, **kwargs))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_identity_at_init(m, C)  # init_weights() restores the identity from random weights


@pytest.mark.parametrize('mode', ['embedded_gaussian', 'dot_product'])
def test_onnx_parity(mode):
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(NonLocal2d(C, mode=mode)).eval(), C)


def test_build_plugin_layer_and_resnet_position():
    from mmcv.cnn import build_plugin_layer
    from mmdet.models.backbones import ResNet
    name, layer = build_plugin_layer(dict(type='attnplug.NonLocal2d', mode='dot_product'),
                                     postfix='_c4', in_channels=C)
    assert name == 'nonlocal_block_c4' and isinstance(layer, NonLocal2d)
    assert layer.mode == 'dot_product' and layer.in_channels == C

    torch.manual_seed(0)
    backbone = ResNet(depth=50, base_channels=4, out_indices=(2, 3), plugins=[
        dict(cfg=dict(type='attnplug.NonLocal2d'), stages=(False, False, True, True),
             position='after_conv2')])
    backbone.init_weights()  # Kaiming on every conv, then our init_weights: still identity
    blocks = [m for m in backbone.modules() if isinstance(m, NonLocal2d)]
    assert len(blocks) == 6 + 3
    assert all((b.conv_out.conv.weight == 0).all() for b in blocks)
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 4, 4), (1, 128, 2, 2)]


def test_bad_mode():
    with pytest.raises(ValueError, match='concatenation'):
        NonLocal2d(C, mode='concatenation')


@pytest.mark.parametrize('kwargs', [dict(block_size=200), dict(mode='dot_product'),
                                    dict(mode='gaussian', block_size=200)],
                         ids=['embedded-gaussian', 'dot-product-linear', 'gaussian-chunked'])
def test_never_builds_n_by_n(kwargs):
    """At 40×40 (N = 1600) no op output has N² elements: inference (fused SDPA for the
    embedded Gaussian) and training (200-row blocks, recomputed in the backward)."""
    m = perturb(NonLocal2d(C, **kwargs))
    assert_no_quadratic_tensor(m, C, size=(40, 40), grad=False)
    assert_no_quadratic_tensor(m, C, size=(40, 40), grad=True)
