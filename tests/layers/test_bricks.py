"""Tests of attnplug.layers._bricks (norm / activation builders of the layers)."""
import pytest
import torch
import torch.nn as nn

from attnplug.layers._bricks import build_activation, build_norm, make_divisible


def test_hsigmoid_matches_mmcv():
    from mmcv.cnn.bricks.hsigmoid import HSigmoid
    x = torch.linspace(-10, 10, 201)
    for kwargs in ({}, dict(bias=1.0, divisor=2.0)):
        ours = build_activation(dict(type='HSigmoid', **kwargs))
        assert torch.equal(ours(x), HSigmoid(**kwargs)(x.clone()))
    torch.testing.assert_close(build_activation('hard_sigmoid')(x), nn.Hardsigmoid()(x))
    torch.testing.assert_close(build_activation('HSwish')(x), nn.Hardswish()(x))


def test_activation_configs():
    assert isinstance(build_activation(None), nn.Identity)
    assert isinstance(build_activation(dict(type='ReLU', inplace=True)), nn.ReLU)
    assert not build_activation(dict(type='ReLU', inplace=True)).inplace
    assert isinstance(build_activation(nn.GELU.__name__), nn.GELU)
    with pytest.raises(KeyError, match='unknown activation'):
        build_activation('NoSuchAct')
    with pytest.raises(KeyError, match='type'):
        build_activation(dict(bias=3))


def test_norm_configs():
    bn = build_norm(dict(type='BN', requires_grad=False, momentum=0.01), 8)
    assert isinstance(bn, nn.BatchNorm2d) and bn.momentum == 0.01
    assert not any(p.requires_grad for p in bn.parameters())
    gn = build_norm(dict(type='GN', num_groups=2), 8)
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 2 and gn.num_channels == 8
    with pytest.raises(KeyError, match='num_groups'):
        build_norm(dict(type='GN'), 8)
    assert isinstance(build_norm(None, 8), nn.Identity)


def test_unknown_types_fall_back_to_mmengine_registry():
    from mmcv.cnn.bricks.activation import Clamp  # importing mmcv.cnn registers its layers
    assert isinstance(build_activation(dict(type='Swish')), nn.SiLU)  # ours first
    clamp = build_activation(dict(type='Clamp', min=-1.0, max=0.5))
    assert isinstance(clamp, Clamp) and clamp(torch.tensor([3.0])).item() == 0.5
    assert isinstance(build_norm(dict(type='LN'), 8), nn.LayerNorm)
    with pytest.raises(KeyError, match='unknown norm'):
        build_norm(dict(type='NoSuchNorm'), 8)


@pytest.mark.parametrize('value,divisor,expected', [(3, 8, 8), (20, 8, 24), (12, 8, 16),
                                                    (36, 8, 40), (11, 8, 16), (3, 1, 3),
                                                    (0, 1, 1)])
def test_make_divisible(value, divisor, expected):
    # hand-computed: nearest multiple, at least the divisor, never below 90 % of the value
    assert make_divisible(value, divisor) == expected
