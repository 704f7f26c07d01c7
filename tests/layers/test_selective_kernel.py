"""Tests of attnplug.layers.selective_kernel (SKConv)."""
import pytest
import torch
import torch.nn as nn

from attnplug.layers import SKConv
from attnplug.registry import MODELS
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_onnx_parity,
                              assert_shape_preserved)

C = 16


def _module(in_channels=C, out_channels=C, **kwargs):
    torch.manual_seed(0)
    return SKConv(in_channels, out_channels, **kwargs)


def test_contract_as_a_same_conv():
    m = _module(groups=4)
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    assert_onnx_parity(_module(groups=2, num_branches=3), C)


@pytest.mark.parametrize('stride,dilation', [(1, 1), (2, 1), (1, 2), (2, 3)])
def test_output_shape_equals_the_replaced_conv(stride, dilation):
    sk = _module(C, 24, stride=stride, padding=dilation, dilation=dilation).eval()
    conv = nn.Conv2d(C, 24, 3, stride=stride, padding=dilation, dilation=dilation)
    for size in ((23, 31), (1, 5), (8, 8)):
        x = torch.randn(1, C, *size)
        with torch.no_grad():
            assert sk(x).shape == conv(x).shape, size
    # the slot's dilation is the base of the branch dilations
    assert [b[0].dilation[0] for b in sk.branches] == [dilation, 2 * dilation]


def test_matches_the_paper_equations():
    m = _module(groups=4, num_branches=3, hidden_channels=8).eval()
    with torch.no_grad():  # non-trivial BN statistics everywhere
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, C, 9, 10)
    with torch.no_grad():
        u = [branch(x) for branch in m.branches]  # split
        s = sum(u).mean(dim=(2, 3))  # fuse, Eq. 1-2: (N, C)
        z = torch.relu(m.fc_norm(m.fc_reduce(s[:, :, None, None])))  # Eq. 3
        a = m.fc_select(z).flatten(1)  # (N, M * C), A_m stacked
        logits = torch.stack([a[:, i * C:(i + 1) * C] for i in range(3)])  # (M, N, C)
        weights = logits.exp() / logits.exp().sum(0)  # Eq. 5, per channel over branches
        expected = sum(weights[i][:, :, None, None] * u[i] for i in range(3))  # Eq. 6
        torch.testing.assert_close(m(x), expected, atol=1e-5, rtol=1e-5)


def test_attention_width_and_bad_arguments():
    assert _module(C, 64).hidden_channels == 32  # d = max(64 / 16, L=32)
    assert _module(C, 1024).fc_reduce.out_channels == 64
    with pytest.raises(ValueError, match='padding'):
        _module(padding=2)  # not the "same" padding of dilation 1
    with pytest.raises(ValueError, match='groups'):
        _module(C, 24, groups=5)


def test_build_conv_layer():
    from mmcv.cnn import build_conv_layer
    conv = build_conv_layer(dict(type='attnplug.SKConv'), 16, 16, 3, padding=1)
    assert isinstance(conv, SKConv)
    assert conv(torch.randn(2, 16, 7, 9)).shape == (2, 16, 7, 9)
    conv = build_conv_layer(dict(type='attnplug.SKConv', num_branches=3, groups=4), 16, 32,
                            kernel_size=3, stride=2, padding=2, dilation=2, bias=False)
    assert conv(torch.randn(2, 16, 7, 9)).shape == (2, 32, 4, 5)
    assert isinstance(MODELS.build(dict(type='SKConv', in_channels=8, out_channels=8)), SKConv)


def _plain_and_sk(resnet_cls, **kwargs):
    torch.manual_seed(0)
    plain = resnet_cls(**kwargs)
    sk = resnet_cls(dcn=dict(type='attnplug.SKConv', groups=4),
                    stage_with_dcn=(False, True, True, True), **kwargs)
    plain.eval()  # ResNet.train() returns None, so no chaining
    sk.eval()
    return plain, sk


def test_in_mmseg_resnet_v1c_dilated():
    from mmseg.models.backbones import ResNetV1c
    plain, sk = _plain_and_sk(ResNetV1c, depth=50, base_channels=16, stem_channels=16,
                              dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1))
    sk.init_weights()
    assert not isinstance(sk.layer1[0].conv2, SKConv)
    for layer, base in ((sk.layer2, 1), (sk.layer3, 2), (sk.layer4, 4)):
        for block in layer:
            assert isinstance(block.conv2, SKConv)
            assert [b[0].dilation[0] for b in block.conv2.branches] == [base, 2 * base]
    x = torch.randn(1, 3, 35, 41)
    with torch.no_grad():
        outs_plain, outs_sk = plain(x), sk(x)
    assert [o.shape for o in outs_sk] == [o.shape for o in outs_plain]
    # stages 3 and 4 are dilated, not strided: they keep stage 2's resolution (output stride 8)
    assert outs_sk[-1].shape[1] == 16 * 8 * 4
    assert outs_sk[1].shape[2:] == outs_sk[2].shape[2:] == outs_sk[3].shape[2:] == (5, 6)


def test_in_mmdet_resnet():
    from mmdet.models.backbones import ResNet
    plain, sk = _plain_and_sk(ResNet, depth=50, base_channels=16, stem_channels=16, init_cfg=None)
    x = torch.randn(1, 3, 33, 47)
    with torch.no_grad():
        outs_plain, outs_sk = plain(x), sk(x)
    assert [o.shape for o in outs_sk] == [o.shape for o in outs_plain]
    assert isinstance(sk.layer4[0].conv2, SKConv) and sk.layer4[0].conv2.stride == (2, 2)


def test_branch_cfgs():
    """Per-branch groups and dilations (the authors' PyTorch SK-ResNet's branches; equality
    with their code is tests/golden/test_authors_selective_kernel.py)."""
    m = _module(32, 32, branch_cfgs=[dict(groups=1, dilation=1), dict(groups=32, dilation=1)],
                min_hidden_channels=1, stride=2)
    convs = [b[0] for b in m.branches]
    assert [(c.groups, c.dilation, c.padding) for c in convs] == [(1, (1, 1), (1, 1)),
                                                                 (32, (1, 1), (1, 1))]
    assert m.hidden_channels == 2
    assert_shape_preserved(_module(32, 32, branch_cfgs=[dict(groups=1), dict(groups=8)]), 32,
                           sizes=((23, 31), (1, 5)))
    # a key left out keeps its default: branch m is dilated m + 1
    assert _module(branch_cfgs=[dict(groups=2), dict(groups=4)]).branches[1][0].dilation == (2, 2)
    with pytest.raises(ValueError, match='SKConv: branch_cfgs has 1 entries, expected '
                                         'num_branches=2'):
        _module(branch_cfgs=[dict(groups=1)])
    with pytest.raises(ValueError, match='SKConv: branch_cfgs keys must be dilation/groups'):
        _module(branch_cfgs=[dict(group=1), dict(groups=1)])
    with pytest.raises(ValueError, match='SKConv: groups=3 must divide'):
        _module(branch_cfgs=[dict(groups=1), dict(groups=3)])
