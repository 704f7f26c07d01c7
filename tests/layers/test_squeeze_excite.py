"""Tests of attnplug.layers.squeeze_excite (SqueezeExcitation)."""
import pytest
import torch

from attnplug.layers import SqueezeExcitation
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 48


def _module(**kwargs):
    torch.manual_seed(0)
    return SqueezeExcitation(in_channels=C, **kwargs)


def _copy_from_openmmlab(ours, ref):
    mapping = {'conv1.conv.weight': 'fc1.weight', 'conv1.conv.bias': 'fc1.bias',
               'conv2.conv.weight': 'fc2.weight', 'conv2.conv.bias': 'fc2.bias'}
    state = ref.state_dict()
    assert set(state) == set(mapping), sorted(state)
    ours.load_state_dict({mapping[k]: v for k, v in state.items()})


@pytest.mark.parametrize('kwargs', [{}, dict(divisor=8, gate_cfg=dict(type='HSigmoid'))])
def test_contract(kwargs):
    m = _module(**kwargs)
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    assert_onnx_parity(_module(), C)


def test_matches_mmseg_se_layer():
    from mmseg.models.utils import SELayer
    torch.manual_seed(1)
    ref = SELayer(C, ratio=16).eval()  # hidden make_divisible(3, 8) = 8, HSigmoid(3, 6) gate
    ours = SqueezeExcitation(C, reduction=16, divisor=8,
                             gate_cfg=dict(type='HSigmoid', bias=3.0, divisor=6.0)).eval()
    assert ours.hidden_channels == ref.conv1.conv.out_channels == 8
    _copy_from_openmmlab(ours, ref)
    # scale up the input so that the hard sigmoid saturates on both sides somewhere
    x = torch.randn(2, C, 9, 11) * 10
    with torch.no_grad():
        expected, got = ref(x), ours(x)
        gate = ref.conv2(ref.conv1(x.mean((2, 3), keepdim=True)))
    assert (gate == 0).any() and (gate == 1).any() and ((gate > 0) & (gate < 1)).any()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_matches_mmdet_se_layer():
    from mmdet.models.layers import SELayer
    torch.manual_seed(2)
    ref = SELayer(C, ratio=16).eval()  # hidden int(48 / 16) = 3, sigmoid gate
    ours = SqueezeExcitation(C, reduction=16).eval()
    assert ours.hidden_channels == ref.conv1.conv.out_channels == 3
    _copy_from_openmmlab(ours, ref)
    x = torch.randn(2, C, 7, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('channels', [8, 24, 40, 64, 100, 256])
@pytest.mark.parametrize('ratio', [4, 16])
def test_hidden_width_matches_openmmlab(channels, ratio):
    from mmdet.models.layers import SELayer as MMDetSE
    from mmseg.models.utils import SELayer as MMSegSE
    mmseg_hidden = MMSegSE(channels, ratio=ratio).conv1.conv.out_channels
    assert SqueezeExcitation(channels, reduction=ratio, divisor=8).hidden_channels == mmseg_hidden
    if channels >= ratio:  # mmdet builds a zero-width conv below that
        mmdet_hidden = MMDetSE(channels, ratio=ratio).conv1.conv.out_channels
        assert SqueezeExcitation(channels, reduction=ratio).hidden_channels == mmdet_hidden
    else:
        assert SqueezeExcitation(channels, reduction=ratio).hidden_channels == 1


def test_build_paths():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.SqueezeExcitation', reduction=4),
                                     postfix=1, in_channels=C)
    assert name == 'se1' and isinstance(layer, SqueezeExcitation)
    assert layer.hidden_channels == C // 4
    built = MODELS.build(dict(type='SqueezeExcitation', in_channels=16, hidden_channels=5))
    assert isinstance(built, SqueezeExcitation) and built.fc1.out_channels == 5


def test_in_resnet_bottleneck_plugin():
    from mmdet.models.backbones import ResNet
    plugins = [dict(cfg=dict(type='attnplug.SqueezeExcitation', reduction=4),
                    position='after_conv3')]
    net = ResNet(50, base_channels=4, stem_channels=4, plugins=plugins, init_cfg=None)
    net.init_weights()
    block = net.layer2[0]
    assert block.after_conv3_plugin_names == ['se']
    assert block.se.in_channels == 4 * 2 * 4
    outs = net(torch.randn(1, 3, 33, 31))
    assert [o.shape[1] for o in outs] == [16, 32, 64, 128]
