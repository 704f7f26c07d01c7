"""Tests of attnplug.models.backbones (ResNet family with plugin slots).

Tiny backbones (``base_channels`` 4-8) on odd-sized inputs, in the style of
mmdet's ``test_resnet_bottleneck``; mmcv's plugins (ContextBlock, NonLocal2d,
GeneralizedAttention) and test-local plugins stand in for attnplug's layers,
which have their own guarded tests at the end.
"""
import copy
import functools
import inspect

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS

import mmcv.cnn  # noqa: F401  (registers ContextBlock, GeneralizedAttention, NonLocal2d)
from mmdet.models.backbones import ResNet as MMDetResNet
from mmseg.models.backbones import ResNet as MMSegResNet
from mmseg.models.backbones import ResNetV1c as MMSegResNetV1c
from mmseg.models.backbones import ResNetV1d as MMSegResNetV1d

from attnplug.models.backbones import DetResNet, ResNet, ResNetV1c, ResNetV1d
from attnplug.models.plugins import _looks_like_plugin, error_text
from attnplug.models.backbones.resnet import PluginBasicBlock, PluginBottleneck
from attnplug.registry import MODELS
from attnplug.testing import randomise

SIZE = (33, 47)


# ---------------------------------------------------------------- test-local plugins
class AddConstant(nn.Module):
    """Adds ``value``: chained copies add up, unchained ones do not."""
    _abbr_ = 'add_constant'

    def __init__(self, in_channels, value=1.0):
        super().__init__()
        self.in_channels = in_channels
        self.value = value

    def forward(self, x):
        return x + self.value


class ChannelChecked(nn.Module):
    """Checks its input's channels at forward time, as attnplug layers do."""
    _abbr_ = 'channel_checked'

    def __init__(self, in_channels):
        super().__init__()
        self.in_channels = in_channels
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, x):
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__}: expected {self.in_channels} input channels '
                             f'(in_channels={self.in_channels}), got {x.shape[1]}')
        return x * self.weight


class ZeroGate(BaseModule):
    """Residual plugin ``x + conv(x)`` that zeroes ``conv`` in ``init_weights()``
    and already calls it in ``__init__`` (so mmengine would skip it later)."""
    _abbr_ = 'zero_gate'

    def __init__(self, in_channels):
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, in_channels, 1)
        self.init_weights()

    def init_weights(self):
        super().init_weights()
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return x + self.conv(x)


class ShapeChanger(nn.Module):
    _abbr_ = 'shape_changer'

    def __init__(self, in_channels):
        super().__init__()

    def forward(self, x):
        return x[:, :1]


class TaggedConv(nn.Conv2d):
    """A conv layer for the ``dcn`` slot."""


# ---------------------------------------------------------------- helpers


def _outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _assert_same_outputs(a, b, x):
    out_a, out_b = _outputs(a, x), _outputs(b, x)
    assert len(out_a) == len(out_b)
    for i, (ya, yb) in enumerate(zip(out_a, out_b)):
        assert ya.shape == yb.shape, (i, ya.shape, yb.shape)
        assert torch.equal(ya, yb), f'stage {i}: max diff {(ya - yb).abs().max():.3g}'


def _input(batch=1, seed=1):
    return torch.rand(batch, 3, *SIZE, generator=torch.Generator().manual_seed(seed))


@functools.lru_cache()
def _plain_shapes(cls, depth, base, batch=1):
    return [o.shape for o in _outputs(cls(depth=depth, base_channels=base), _input(batch))]


def _shapes(model, batch=1):
    return [o.shape for o in _outputs(model, _input(batch))]


def _tiny(depth, *plugins, **kwargs):
    """``ResNet(depth, base_channels=4)`` with ``plugins``."""
    return ResNet(depth=depth, base_channels=4, plugins=list(plugins) or None, **kwargs)


def _plugin(cfg, position, stages=None):
    d = dict(cfg=cfg, position=position)
    if stages is not None:
        d['stages'] = stages
    return d


def _expected_channels(depth, base, stage, position):
    planes = base * 2**stage
    expansion = 4 if depth >= 50 else 1
    return planes * expansion if position in ('after_conv3', 'after_stage') or (
        expansion == 1 and position == 'after_conv2') else planes


# ---------------------------------------------------------------- registration
def test_registered_names():
    for name in ('ResNet', 'ResNetV1c', 'ResNetV1d', 'DetResNet', 'DetResNetV1d'):
        assert MODELS.get(name).__module__.startswith('attnplug.models.backbones'), name
        assert ROOT_MODELS.get(f'attnplug.{name}') is MODELS.get(name)
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    seg = MMSEG_MODELS.build(dict(type='attnplug.ResNetV1c', depth=18, base_channels=4))
    det = MMDET_MODELS.build(dict(type='attnplug.ResNet', depth=18, base_channels=4))
    assert type(seg) is ResNetV1c and type(det) is ResNet
    assert isinstance(seg, MMSegResNet) and isinstance(MMDET_MODELS.build(
        dict(type='attnplug.DetResNet', depth=18, base_channels=4)), MMDetResNet)


# ---------------------------------------------------------------- checkpoint compatibility
@pytest.mark.parametrize('ours, theirs, depth', [
    (ResNet, MMSegResNet, 50), (ResNet, MMSegResNet, 18), (ResNetV1c, MMSegResNetV1c, 50),
    (ResNetV1d, MMSegResNetV1d, 50)])
def test_plain_backbone_equals_mmseg(ours, theirs, depth):
    kwargs = dict(depth=depth, base_channels=4, stem_channels=8)
    ref = randomise(theirs(**kwargs))
    mine = ours(**kwargs)
    result = mine.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    _assert_same_outputs(ref, mine, _input())


@pytest.mark.parametrize('depth', [50, 18])
def test_plain_backbone_equals_mmdet(depth):
    ref = randomise(MMDetResNet(depth=depth, base_channels=8))  # mmdet: stem = base_channels
    for mine in (ResNet(depth=depth, base_channels=8, stem_channels=8),
                 DetResNet(depth=depth, base_channels=8)):
        mine.load_state_dict(ref.state_dict(), strict=True)
        _assert_same_outputs(ref, mine, _input())
    # The defaults that differ, which is why DetResNet exists.
    assert DetResNet(depth=depth, base_channels=8).norm_eval is True
    assert ResNet(depth=depth, base_channels=8).norm_eval is False
    with pytest.raises(RuntimeError, match='size mismatch'):
        ResNet(depth=depth, base_channels=8).load_state_dict(ref.state_dict())


def test_full_size_checkpoint_keys_match():
    """torchvision's resnet50 keys are mmdet's; open-mmlab's resnet50_v1c keys are mmseg's."""
    def shapes(m):
        return {k: tuple(v.shape) for k, v in m.state_dict().items()}

    assert shapes(ResNet(depth=50)) == shapes(MMDetResNet(depth=50))
    assert shapes(DetResNet(depth=50)) == shapes(MMDetResNet(depth=50))
    assert shapes(ResNetV1c(depth=50)) == shapes(MMSegResNetV1c(depth=50))


def test_pretrained_loads_with_only_plugin_keys_missing():
    plugins = [
        _plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3', (False, True, True, True)),
        _plugin(dict(type='NonLocal2d'), 'after_stage', (False, False, True, True)),
        _plugin(dict(type=AddConstant), 'after_stage', (True, False, False, False)),
    ]
    ckpt = randomise(MMSegResNetV1c(depth=50, base_channels=4)).state_dict()
    mine = ResNetV1c(depth=50, base_channels=4, plugins=plugins)
    result = mine.load_state_dict(ckpt, strict=False)
    plugin_paths = [r.path for r in mine.named_plugins()]
    expected_missing = {
        k for k in mine.state_dict() if any(k.startswith(p + '.') for p in plugin_paths)}
    assert expected_missing and set(result.missing_keys) == expected_missing
    assert result.unexpected_keys == []
    assert any(k.startswith('after_stage_plugins.layer3.nonlocal_block.') for k in expected_missing)
    assert any(k.startswith('layer2.0.context_block.') for k in expected_missing)


# ---------------------------------------------------------------- positions, channels, chaining
@pytest.mark.parametrize('depth', [50, 18])
def test_in_channels_at_every_position(depth):
    positions = ['after_conv1', 'after_conv2', 'after_stage']
    if depth >= 50:
        positions.append('after_conv3')
    plugins = [_plugin(dict(type=ChannelChecked, postfix=f'_{p}'), p) for p in positions]
    model = ResNet(depth=depth, base_channels=4, plugins=plugins)
    records = list(model.named_plugins())
    num_blocks = sum(len(getattr(model, n)) for n in model.res_layers)
    assert len(records) == num_blocks * (len(positions) - 1) + 4
    for r in records:
        assert r.module.in_channels == _expected_channels(depth, 4, r.stage, r.position), r
    assert _shapes(model) == _plain_shapes(ResNet, depth, 4)  # ChannelChecked ran at every slot


def test_mmcv_plugins_get_position_channels():
    plugins = [_plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3'),
               _plugin(dict(type='GeneralizedAttention', num_heads=2), 'after_conv2'),
               _plugin(dict(type='NonLocal2d', reduction=2), 'after_stage')]
    model = ResNet(depth=50, base_channels=8, plugins=plugins)
    for r in model.named_plugins():
        assert r.module.in_channels == _expected_channels(50, 8, r.stage, r.position), r
    model.init_weights()
    assert _shapes(model) == _plain_shapes(ResNet, 50, 8)


@pytest.mark.parametrize('depth, position', [(50, 'after_conv1'), (50, 'after_conv2'),
                                             (50, 'after_conv3'), (18, 'after_conv1'),
                                             (18, 'after_conv2'), (50, 'after_stage'),
                                             (18, 'after_stage')])
def test_plugins_at_one_position_are_chained(depth, position):
    """Two plugins at one position act like their composition (mmseg 1.2.2
    would only apply the last one)."""
    stages = (False, True, False, False)

    def build(*values):
        plugins = [_plugin(dict(type=AddConstant, value=v, postfix=str(k)), position, stages)
                   for k, v in enumerate(values)]
        return randomise(ResNet(depth=depth, base_channels=4, plugins=plugins, out_indices=(1, 3)))

    both, summed, last_only = build(0.5, 0.25), build(0.75), build(0.25)
    x = _input()
    out_both, out_summed, out_last = _outputs(both, x), _outputs(summed, x), _outputs(last_only, x)
    assert torch.allclose(out_both[0], out_summed[0], atol=1e-5)
    assert (out_both[0] - out_last[0]).abs().max() > 1e-3


def test_after_stage_plugin_acts_on_stage_output():
    stages = (False, False, False, True)
    plain = randomise(ResNet(depth=50, base_channels=4))
    model = ResNet(depth=50, base_channels=4,
                   plugins=[_plugin(dict(type=AddConstant, value=3.0), 'after_stage', stages)])
    model.load_state_dict(plain.state_dict(), strict=False)
    x = _input()
    out, ref = _outputs(model, x), _outputs(plain, x)
    for i in range(3):
        assert torch.equal(out[i], ref[i])
    assert torch.allclose(out[3], ref[3] + 3.0)
    assert list(model.after_stage_plugins.keys()) == ['layer4']


def test_stages_is_optional():
    model = ResNet(depth=18, base_channels=4, plugins=[
        _plugin(dict(type=AddConstant), 'after_conv1'),
        _plugin(dict(type=AddConstant, postfix=2), 'after_conv2', (True, False, True, False))])
    by_position = {}
    for r in model.named_plugins():
        by_position.setdefault(r.position, set()).add(r.stage)
    assert by_position == {'after_conv1': {0, 1, 2, 3}, 'after_conv2': {0, 2}}


def test_output_shape_unchanged_with_plugins_everywhere():
    plugins = [_plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3'),
               _plugin(dict(type='NonLocal2d'), 'after_conv2', (False, False, True, True)),
               _plugin(dict(type='GeneralizedAttention', num_heads=1), 'after_stage')]
    for cls in (ResNet, ResNetV1c, ResNetV1d, DetResNet):
        model = cls(depth=50, base_channels=4, plugins=plugins)
        assert _shapes(model, 2) == _plain_shapes(cls, 50, 4, 2)


# ---------------------------------------------------------------- initialisation
def _identity_plugins():
    return [
        _plugin(dict(type=ZeroGate), 'after_conv1', (True, True, False, False)),
        _plugin(dict(type='GeneralizedAttention', num_heads=1), 'after_conv2',
                (False, True, False, False)),
        _plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3'),
        _plugin(dict(type='NonLocal2d', zeros_init=True), 'after_stage', (False, True, True, True)),
    ]


@pytest.mark.parametrize('zero_init_residual', [False, True])
def test_residual_plugins_stay_identity_after_init_weights(zero_init_residual):
    model = ResNet(depth=50, base_channels=8, plugins=_identity_plugins(),
                   zero_init_residual=zero_init_residual)
    model.init_weights()
    for r in model.named_plugins():
        if r.name == 'context_block':
            assert not r.module.channel_add_conv[-1].weight.any(), r.path
        if r.name == 'nonlocal_block':
            assert not r.module.conv_out.conv.weight.any(), r.path
        if r.name == 'zero_gate':
            assert not r.module.conv.weight.any(), r.path
    # The kaiming init did run on the convs of the backbone and of the plugins.
    assert model.layer1[0].conv1.weight.std() > 0
    plain = ResNet(depth=50, base_channels=8, zero_init_residual=zero_init_residual)
    plain.load_state_dict(model.state_dict(), strict=False)
    _assert_same_outputs(model, plain, _input())


def test_stock_mmseg_backbone_init_breaks_the_identity():
    """The trap the test above guards against: mmseg's default init re-inits
    ContextBlock's zero-initialised last conv."""
    model = MMSegResNet(depth=50, base_channels=8,
                        plugins=[_plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3')])
    assert not model.layer1[0].context_block.channel_add_conv[-1].weight.any()
    model.init_weights()
    assert model.layer1[0].context_block.channel_add_conv[-1].weight.any()


def test_pretrained_init_cfg_loads_backbone_and_keeps_plugins_identity(tmp_path):
    plain = randomise(ResNet(depth=50, base_channels=8))
    path = tmp_path / 'r50_tiny.pth'
    torch.save(plain.state_dict(), path)
    model = ResNet(depth=50, base_channels=8, plugins=_identity_plugins(),
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in plain.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    _assert_same_outputs(model, plain, _input())


# ---------------------------------------------------------------- build-time errors
@pytest.mark.parametrize('depth, bad, valid', [
    (50, 'after_conv4', ['after_conv1', 'after_conv2', 'after_conv3', 'after_stage']),
    (18, 'after_conv3', ['after_conv1', 'after_conv2', 'after_stage'])])
def test_wrong_position_lists_valid_positions(depth, bad, valid):
    with pytest.raises(ValueError) as info:
        _tiny(depth, _plugin(dict(type='ContextBlock', ratio=0.25), bad))
    listed = str(info.value).split('Valid positions:')[1]
    assert repr(bad) in str(info.value)
    all_positions = ('after_conv1', 'after_conv2', 'after_conv3', 'after_stage')
    assert [p for p in all_positions if repr(p) in listed] == valid


def test_blocks_check_positions_too():
    with pytest.raises(ValueError, match="'after_conv1', 'after_conv2'"):
        PluginBasicBlock(8, 8, plugins=[_plugin(dict(type=AddConstant), 'after_conv3')])
    with pytest.raises(ValueError, match='Valid positions'):
        PluginBottleneck(16, 4, plugins=[_plugin(dict(type=AddConstant), 'after_stage')])
    block = PluginBottleneck(16, 4, plugins=[
        _plugin(dict(type=AddConstant, value=0.5, postfix=1), 'after_conv2'),
        _plugin(dict(type=AddConstant, value=0.25, postfix=2), 'after_conv2')])
    assert block.after_conv2_plugin_names == ['add_constant1', 'add_constant2']
    x = torch.zeros(1, 4, 3, 5)  # mmseg's forward_plugin API, chained
    assert torch.equal(block.forward_plugin(x, block.after_conv2_plugin_names), x + 0.75)


def test_duplicate_plugin_needs_postfix():
    gc = dict(type='ContextBlock', ratio=0.25)
    with pytest.raises(ValueError, match='postfix') as info:
        _tiny(50, _plugin(gc, 'after_conv3'), _plugin(gc, 'after_conv3'))
    assert "'context_block'" in str(info.value) and 'stage 0' in str(info.value)
    with pytest.raises(ValueError, match='postfix'):  # one namespace per block, across positions
        _tiny(50, _plugin(gc, 'after_conv2'), _plugin(gc, 'after_conv3'))
    with pytest.raises(ValueError, match='postfix'):
        _tiny(50, _plugin(gc, 'after_stage'), _plugin(gc, 'after_stage'))
    ok = ResNet(depth=50, base_channels=4, plugins=[
        _plugin(dict(gc, postfix=1), 'after_conv3'), _plugin(dict(gc, postfix=2), 'after_conv3'),
        _plugin(gc, 'after_stage')])
    assert ok.layer1[0].after_conv3_plugin_names == ['context_block1', 'context_block2']
    assert hasattr(ok.after_stage_plugins.layer1, 'context_block')


def test_plugin_name_clashing_with_a_block_attribute_fails():
    class Conv(AddConstant):
        _abbr_ = 'conv'

    with pytest.raises(ValueError, match='clashes'):
        _tiny(18, _plugin(dict(type=Conv, postfix=1), 'after_conv1'))


def test_unknown_type_lists_known_names():
    with pytest.raises(KeyError) as info:
        _tiny(50, _plugin(dict(type='NoSuchPlugin'), 'after_conv3'))
    msg = str(info.value)
    for name in ('NoSuchPlugin', 'ContextBlock', 'GeneralizedAttention', 'NonLocal2d', 'stage 0'):
        assert name in msg, name
    known = msg.split('Known plugin types:')[1].strip(" '").split(', ')
    assert 'ContextBlock' in known
    for not_a_plugin in ('Conv2d', 'BN', 'ReLU', 'ResNet', 'attnplug.ResNet', 'attnplug.SKConv'):
        assert not_a_plugin not in known, not_a_plugin


def test_unknown_type_in_an_mmseg_scope():
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as MMSEG_MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(KeyError, match="'mmseg' registry.*ContextBlock"):
            MMSEG_MODELS.build(dict(type='attnplug.ResNet', depth=18, base_channels=4, plugins=[
                _plugin(dict(type='NoSuchPlugin'), 'after_conv1')]))


def test_unknown_scoped_type_lists_known_names():
    with pytest.raises(KeyError) as info:
        _tiny(50, _plugin(dict(type='attnplug.NoSuchPlugin'), 'after_stage'))
    msg = str(info.value)
    assert 'NoSuchPlugin' in msg and "the 'attnplug' registry" in msg and 'stage 0' in msg
    assert 'attnplug.CBAM' in msg.split('Known plugin types:')[1]


@pytest.mark.parametrize('position, stage, expected', [
    ('after_conv3', 1, 32), ('after_conv1', 2, 16), ('after_stage', 3, 128)])
def test_hard_coded_in_channels_that_do_not_fit_fail_at_build(position, stage, expected):
    stages = tuple(i == stage for i in range(4))
    with pytest.raises(ValueError) as info:
        _tiny(50, _plugin(dict(type='ContextBlock', ratio=0.25, in_channels=24), position, stages))
    msg = str(info.value)
    for part in (f'stage {stage}', f'layer{stage + 1}', repr(position), f'expected {expected}',
                 'given 24', 'ContextBlock'):
        assert part in msg, (part, msg)
    if position != 'after_stage':
        assert 'Bottleneck' in msg
    # the fitting value is accepted
    model = ResNet(depth=50, base_channels=4, plugins=[
        _plugin(dict(type='ContextBlock', ratio=0.25, in_channels=expected), position, stages)])
    assert next(model.named_plugins()).module.in_channels == expected


def test_wrong_channel_count_at_forward_time_names_module_and_count():
    model = ResNet(depth=50, base_channels=4, plugins=[
        _plugin(dict(type=ChannelChecked), 'after_conv3', (True, False, False, False))])
    record = next(model.named_plugins())
    with pytest.raises(ValueError, match=r'ChannelChecked: expected 16 input channels'):
        record.module(torch.rand(1, 12, 5, 5))
    record.module.in_channels = 7  # now the backbone feeds it a count it does not expect
    with pytest.raises(ValueError, match='expected 7') as info:
        _outputs(model, _input())
    notes = ' '.join(getattr(info.value, '__notes__', []))
    assert "'channel_checked'" in notes and "'after_conv3'" in notes and 'layer1.0' in notes


def test_plugin_that_changes_the_shape_fails_with_its_location():
    model = ResNet(depth=18, base_channels=4, plugins=[
        _plugin(dict(type=ShapeChanger), 'after_stage', (False, True, False, False))])
    with pytest.raises(RuntimeError, match=r"shape_changer.*'after_stage' of layer2"):
        _outputs(model, _input())


def test_malformed_plugin_entries():
    with pytest.raises(ValueError, match='num_stages=4'):
        _tiny(18, _plugin(dict(type=AddConstant), 'after_conv1', (True, )))
    with pytest.raises(ValueError, match="inside 'cfg'"):
        _tiny(18, dict(cfg=dict(type=AddConstant), position='after_conv1', postfix='1'))
    with pytest.raises(ValueError, match="'cfg' and 'position'"):
        ResNet(depth=18, base_channels=4, plugins=[dict(type=AddConstant)])


# ---------------------------------------------------------------- dcn slot, with_cp, frozen stages
def test_dcn_slot_still_works_with_plugins():
    dcn = dict(type=TaggedConv)
    model = ResNet(depth=50, base_channels=4, dcn=dcn, stage_with_dcn=(False, True, False, True),
                   plugins=[_plugin(dict(type=AddConstant), 'after_conv2')])
    tagged = [name for name, m in model.named_modules() if isinstance(m, TaggedConv)]
    assert tagged
    assert all(n.startswith(('layer2.', 'layer4.')) and n.endswith('conv2') for n in tagged)
    assert len(tagged) == len(model.layer2) + len(model.layer4)
    assert _shapes(model) == _plain_shapes(ResNet, 50, 4)
    # same modules and keys as mmseg's backbone with that dcn config (fallback_on_stride included)
    for cfg in (dict(type=TaggedConv), dict(type=TaggedConv, fallback_on_stride=True)):
        kwargs = dict(depth=50, base_channels=4, stage_with_dcn=(False, True, True, True))
        mine = ResNet(dcn=copy.deepcopy(cfg), **kwargs)
        ref = MMSegResNet(dcn=copy.deepcopy(cfg), **kwargs)
        assert [(n, type(m)) for n, m in mine.named_modules() if isinstance(m, nn.Conv2d)] == [
            (n, type(m)) for n, m in ref.named_modules() if isinstance(m, nn.Conv2d)]


def test_with_cp_forward_backward_matches_plain():
    plugins = [_plugin(dict(type='ContextBlock', ratio=0.25), 'after_conv3',
                       (False, True, False, True)),
               _plugin(dict(type=ChannelChecked), 'after_conv2'),
               _plugin(dict(type=ChannelChecked, postfix='_stage'), 'after_stage')]
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = ResNet(depth=50, base_channels=4, plugins=plugins, with_cp=with_cp,
                       zero_init_residual=False)
        model.init_weights()
        model.train()
        x = _input(2).requires_grad_()
        sum(o.square().mean() for o in model(x)).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        grads[-1]['input'] = x.grad.clone()
    assert grads[0].keys() == grads[1].keys()
    assert any('after_stage_plugins' in n for n in grads[1])
    assert any('context_block' in n for n in grads[1])
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


def test_frozen_stages_freeze_their_plugins_and_warn():
    plugins = [_plugin(dict(type=ChannelChecked), 'after_conv1'),
               _plugin(dict(type=ChannelChecked, postfix='_s'), 'after_stage')]
    with pytest.warns(UserWarning, match=r'frozen_stages=1.*stage\(s\) \[0\]'):
        model = ResNet(depth=18, base_channels=4, frozen_stages=1, plugins=plugins)
    model.train()
    for r in model.named_plugins():
        assert r.module.weight.requires_grad == (r.stage >= 1), r.path
        assert r.module.training == (r.stage >= 1), r.path


# ---------------------------------------------------------------- visualisation helper
def test_named_plugins_paths_and_order():
    model = ResNet(depth=18, base_channels=4, plugins=[
        _plugin(dict(type=AddConstant, postfix='a'), 'after_conv2', (False, True, False, False)),
        _plugin(dict(type=AddConstant, postfix='b'), 'after_conv1', (False, True, False, False)),
        _plugin(dict(type=AddConstant), 'after_stage', (False, True, False, False))])
    records = list(model.named_plugins())
    assert [(r.stage, r.block, r.position, r.name) for r in records] == [
        (1, 0, 'after_conv1', 'add_constantb'), (1, 0, 'after_conv2', 'add_constanta'),
        (1, 1, 'after_conv1', 'add_constantb'), (1, 1, 'after_conv2', 'add_constanta'),
        (1, None, 'after_stage', 'add_constant')]
    for r in records:
        assert model.get_submodule(r.path) is r.module
    seen = []
    for r in records:
        r.module.register_forward_hook(lambda m, i, o, path=r.path: seen.append(path))
    _outputs(model, _input())
    assert seen == [r.path for r in records]  # forward order


# ---------------------------------------------------------------- attnplug's own layers
def _attnplug_plugins():
    """attnplug layers a backbone can build from ``in_channels`` alone (the names the plugin
    error messages list). A failing ``attnplug.layers`` import fails this module's collection:
    it is never turned into a skip."""
    MODELS.import_from_location()
    names = []
    for name, cls in MODELS._module_dict.items():
        if not _looks_like_plugin(cls):
            continue
        params = inspect.signature(cls.__init__).parameters
        required = [p for n, p in params.items() if n not in ('self', 'in_channels')
                    and p.default is inspect.Parameter.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not required:
            names.append(name)
    return sorted(names)


_LAYERS = _attnplug_plugins()


def test_the_layer_library_offers_plugins():
    assert {'BAM', 'CBAM', 'ECA', 'SqueezeExcitation', 'NonLocal2d'} <= set(_LAYERS), _LAYERS
    assert 'SKConv' in MODELS._module_dict and 'SKConv' not in _LAYERS  # a conv layer


@pytest.mark.parametrize('name', _LAYERS)
def test_attnplug_layer_as_block_and_stage_plugin(name):
    plugins = [_plugin(dict(type=f'attnplug.{name}'), 'after_conv3', (False, False, True, True)),
               _plugin(dict(type=f'attnplug.{name}'), 'after_stage', (False, True, False, False))]
    model = ResNet(depth=50, base_channels=4, plugins=plugins)
    model.init_weights()
    for r in model.named_plugins():
        if hasattr(r.module, 'in_channels'):
            assert r.module.in_channels == _expected_channels(50, 4, r.stage, r.position), r
    assert _shapes(model, 2) == _plain_shapes(ResNet, 50, 4, 2)
    basic = ResNet(depth=18, base_channels=8, plugins=[
        _plugin(dict(type=f'attnplug.{name}'), 'after_conv2', (False, False, False, True))])
    basic.init_weights()
    assert _shapes(basic, 2) == _plain_shapes(ResNet, 18, 8, 2)


def test_bam_after_stage_and_cbam_in_blocks_start_as_identity_when_residual():
    model = ResNet(depth=18, base_channels=16, zero_init_residual=False, plugins=[
        _plugin(dict(type='attnplug.BAM'), 'after_stage', (True, True, True, False)),
        _plugin(dict(type='attnplug.CBAM'), 'after_conv2')])
    model.init_weights()
    assert {r.name for r in model.named_plugins()} == {'bam', 'cbam'}
    plain = ResNet(depth=18, base_channels=16, zero_init_residual=False)
    plain.load_state_dict(model.state_dict(), strict=False)
    x = _input(2)
    out, ref = _outputs(model, x), _outputs(plain, x)
    # BAM starts as an exact identity (zero_init); CBAM is a multiplicative gate, so the
    # outputs differ, but the shapes do not.
    assert [o.shape for o in out] == [o.shape for o in ref]
    bam_only = ResNet(depth=18, base_channels=16, zero_init_residual=False, plugins=[
        _plugin(dict(type='attnplug.BAM'), 'after_stage', (True, True, True, False))])
    bam_only.init_weights()
    plain.load_state_dict(bam_only.state_dict(), strict=False)
    _assert_same_outputs(bam_only, plain, x)


def test_skconv_in_the_dcn_slot():
    model = ResNet(depth=50, base_channels=8, dcn=dict(type='attnplug.SKConv'),
                   stage_with_dcn=(False, True, True, False),
                   plugins=[_plugin(dict(type=AddConstant), 'after_conv2',
                                    (False, True, False, False))])
    sk = [n for n, m in model.named_modules() if type(m).__name__ == 'SKConv']
    assert len(sk) == len(model.layer2) + len(model.layer3)
    model.init_weights()
    assert _shapes(model, 2) == _plain_shapes(ResNet, 50, 8, 2)


@pytest.mark.parametrize('depth', [18, 50])
def test_error_inside_a_plugin_constructor_names_stage_position_and_channels(depth):
    """MultiHeadSelfAttention2d refuses 7 heads on 32 channels; the error must also say which
    stage, block and position the backbone was filling, and with how many channels."""
    with pytest.raises(ValueError) as info:
        ResNet(depth=depth, base_channels=4, plugins=[dict(
            cfg=dict(type='attnplug.MultiHeadSelfAttention2d', num_heads=7),
            position='after_conv2', stages=(False, False, False, True))])
    msg = error_text(info.value)  # the layer's own message, and a note saying where it was
    channels = 32  # stage 3's conv2 output at base_channels 4
    for part in ('stage 3', "'after_conv2'", 'MultiHeadSelfAttention2d',
                 f'in_channels={channels}', 'num_heads=7'):
        assert part in msg, (part, msg)



def test_a_broken_layer_library_is_not_reported_as_an_unknown_type(monkeypatch):
    """An import error in attnplug's layers, met while the plugin error message lists the known
    types, surfaces as itself (chained to the lookup), not as "unknown plugin type"."""
    from attnplug.models import plugins as plugin_slots

    def broken():
        raise ImportError('attnplug.layers is broken (simulated)')

    monkeypatch.setattr(plugin_slots.ATTNPLUG_MODELS, 'import_from_location', broken)
    with pytest.raises(ImportError, match='broken'):
        ResNet(depth=18, base_channels=4, plugins=[_plugin(dict(type='NoSuchPlugin'),
                                                           'after_conv1')])
