"""Tests of attnplug.layers.eca (ECA)."""
import pytest
import torch

from attnplug.layers import ECA
from attnplug.layers.eca import eca_kernel_size
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 64


def _module(**kwargs):
    torch.manual_seed(0)
    return ECA(in_channels=C, **kwargs)


def test_contract():
    m = _module()
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    assert_onnx_parity(_module(), C)


# (log2(C) + 1) / 2, floored, made odd upwards (official ECA code):
# C=16: 2.5->3, 64: 3.5->3, 128: 4->5, 256: 4.5->5, 512: 5->5, 1024: 5.5->5, 2048: 6->7
@pytest.mark.parametrize('channels,k', [(16, 3), (64, 3), (128, 5), (256, 5), (512, 5),
                                        (1024, 5), (2048, 7)])
def test_adaptive_kernel_size(channels, k):
    assert eca_kernel_size(channels) == k
    assert ECA(channels).conv.kernel_size == (k, )


def test_matches_a_channel_loop():
    m = _module(kernel_size=5).eval()
    x = torch.randn(2, C, 7, 9)
    w = m.conv.weight.detach().view(-1)  # (5,)
    pooled = x.mean(dim=(2, 3))
    logits = torch.zeros(2, C)
    for c in range(C):  # zero-padded correlation over neighbouring channels
        for j in range(5):
            src = c + j - 2
            if 0 <= src < C:
                logits[:, c] += w[j] * pooled[:, src]
    expected = x * torch.sigmoid(logits)[:, :, None, None]
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)


def test_even_kernel_rejected():
    with pytest.raises(ValueError, match='odd'):
        ECA(C, kernel_size=4)


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.ECA', kernel_size=7), in_channels=32)
    assert name == 'eca' and isinstance(layer, ECA) and layer.kernel_size == 7
    assert isinstance(MODELS.build(dict(type='ECA', in_channels=C)), ECA)
