"""Tests of attnplug.layers.criss_cross (CrissCrossAttention) against mmcv's module."""
import pytest
import torch

from attnplug.layers import CrissCrossAttention
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, perturb)


C = 32


def _mmcv_reference():
    from mmcv.ops import CrissCrossAttention as MMCVCrissCrossAttention
    return perturb(MMCVCrissCrossAttention(C)).eval()


@pytest.mark.parametrize('size', [(23, 31), (7, 7), (1, 5), (5, 1)])
def test_one_pass_matches_mmcv_with_copied_weights(size):
    ref = _mmcv_reference()
    ours = CrissCrossAttention(in_channels=C, recurrence=1).eval()
    ours.load_state_dict(ref.state_dict())  # strict: query_conv, key_conv, value_conv, gamma
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        expected = ref(x)
        assert (expected - x).abs().max() > 1e-2
        torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=0)


def test_defaults_are_mmcv_one_pass():
    """A config that swaps mmcv's type for attnplug's gets mmcv's module: one pass."""
    import inspect

    from mmcv.ops import CrissCrossAttention as MMCVCrissCrossAttention
    ref = _mmcv_reference()
    ours = CrissCrossAttention(C).eval()
    assert ours.recurrence == 1
    assert list(inspect.signature(MMCVCrissCrossAttention).parameters) == ['in_channels']
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, C, 23, 31)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-4, rtol=0)


def test_recurrence_two_is_mmcv_applied_twice():
    ref = _mmcv_reference()
    ours = CrissCrossAttention(C, recurrence=2).eval()
    assert ours.recurrence == 2
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, C, 23, 31)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(ref(x)), atol=1e-4, rtol=0)
        # a second pass changes the result: R matters
        assert (ours(x) - ref(x)).abs().max() > 1e-3


@pytest.mark.parametrize('recurrence', [1, 2])
def test_contract(recurrence):
    m = perturb(CrissCrossAttention(C, recurrence=recurrence))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_identity_at_init(m, C)  # init_weights() restores the identity from random weights


def test_onnx_parity_dynamo():
    pytest.importorskip('onnxruntime')
    assert_onnx_parity(perturb(CrissCrossAttention(C, recurrence=2)).eval(), C)


@pytest.mark.filterwarnings('ignore')
def test_onnx_legacy_exporter():
    """mmcv's torch.diag mask fails the TorchScript exporter; the arange mask does not."""
    ort = pytest.importorskip('onnxruntime')
    import io
    m = perturb(CrissCrossAttention(C, recurrence=2)).eval()
    x = torch.randn(1, C, 23, 31)
    buf = io.BytesIO()
    torch.onnx.export(m, (x, ), buf, opset_version=17, dynamo=False, input_names=['x'])
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    with torch.no_grad():
        expected = m(x)
    got = torch.from_numpy(sess.run(None, {'x': x.numpy()})[0])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_build_plugin_layer():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.CrissCrossAttention', recurrence=3),
                                     in_channels=64)
    assert name == 'cc_attention' and isinstance(layer, CrissCrossAttention)
    assert layer.recurrence == 3 and layer.query_conv.out_channels == 8
    with pytest.raises(ValueError, match='recurrence'):
        CrissCrossAttention(C, recurrence=0)


def test_never_builds_n_by_n():
    """At 40×40 (N = 1600) the energies are N·(H+W), no op output has N² elements."""
    largest = assert_no_quadratic_tensor(perturb(CrissCrossAttention(C, recurrence=2)), C,
                                         size=(40, 40))
    assert largest < 1600 * 80 * 8  # (B, H, W, H+W) energies or (B, C, H, W) maps
