"""attnplug.DetResNet / DetResNetV1d against mmdet 3.3.0's own ResNet / ResNetV1d.

The mmdet wheel ships no tests, so these are the parity checks a drop-in owes its original:
both classes built from the same configs, mmcv's own plugins included (ContextBlock,
GeneralizedAttention, NonLocal2d; dcn off), compared for structure, state-dict keys, outputs
(weights copied across) and the errors they raise. Tiny widths, an odd 37x53 input.
"""
import pytest
import torch
from mmdet.models.backbones import ResNet as MMDetResNet
from mmdet.models.backbones import ResNetV1d as MMDetResNetV1d

import mmcv.cnn  # noqa: F401  (registers ContextBlock, GeneralizedAttention, NonLocal2d)
from attnplug.models.backbones import DetResNet, DetResNetV1d
from attnplug.testing import randomise

STAGES_234 = (False, True, True, True)
CONFIGS = {
    'plain_r50': dict(depth=50),
    'plain_r18': dict(depth=18),
    'gcb_c3_c5': dict(depth=50, plugins=[dict(cfg=dict(type='ContextBlock', ratio=1. / 4),
                                              stages=STAGES_234, position='after_conv3')]),
    'gen_attention': dict(depth=50, plugins=[dict(
        cfg=dict(type='GeneralizedAttention', spatial_range=-1, num_heads=2,
                 attention_type='0010', kv_stride=2),
        stages=(False, False, True, True), position='after_conv2')]),
    'nonlocal': dict(depth=50, plugins=[dict(cfg=dict(type='NonLocal2d', reduction=2),
                                             stages=(False, False, False, True),
                                             position='after_conv2')]),
    'chained_with_postfixes': dict(depth=50, plugins=[
        dict(cfg=dict(type='ContextBlock', ratio=1. / 4, postfix=1), position='after_conv3'),
        dict(cfg=dict(type='ContextBlock', ratio=1. / 2, postfix=2), position='after_conv3'),
        dict(cfg=dict(type='GeneralizedAttention', num_heads=2, attention_type='1111',
                      kv_stride=2), stages=(False, False, False, True), position='after_conv1')]),
    'frozen_norm_eval_cp': dict(depth=50, frozen_stages=1, norm_eval=False, with_cp=True,
                                out_indices=(1, 3)),
    'stem_and_strides': dict(depth=50, stem_channels=6, strides=(1, 2, 1, 1),
                             dilations=(1, 1, 2, 4), style='caffe', zero_init_residual=False),
}
PAIRS = [(DetResNet, MMDetResNet), (DetResNetV1d, MMDetResNetV1d)]


def _pair(ours_cls, theirs_cls, cfg, seed=0):
    cfg = dict(cfg, base_channels=8)
    torch.manual_seed(seed)
    ours = ours_cls(**cfg)
    torch.manual_seed(seed)
    theirs = theirs_cls(**cfg)
    return ours, theirs


def _structure(model):
    """(name, class of non-block modules, parameter shapes): what the two must share."""
    mods = [(n, type(m).__name__) for n, m in model.named_modules()
            if not type(m).__name__.endswith(('Bottleneck', 'BasicBlock'))
            and type(m).__name__ not in ('DetResNet', 'DetResNetV1d', 'ResNet', 'ResNetV1d')]
    shapes = [(n, tuple(p.shape), p.requires_grad) for n, p in model.named_parameters()]
    return mods, shapes


@pytest.mark.parametrize('ours_cls,theirs_cls', PAIRS, ids=['ResNet', 'ResNetV1d'])
@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_same_structure_keys_and_outputs(ours_cls, theirs_cls, name):
    ours, theirs = _pair(ours_cls, theirs_cls, CONFIGS[name])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert _structure(ours) == _structure(theirs)
    # the defaults mmdet applies (norm_eval=True, stem_channels=base_channels, ...)
    for attr in ('norm_eval', 'stem_channels', 'frozen_stages', 'out_indices', 'with_cp',
                 'zero_init_residual', 'deep_stem', 'avg_down', 'style'):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    ours.init_weights()
    randomise(ours, seed=3)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 3, 37, 53)
    for mode in ('eval', 'train'):
        ours.train(mode == 'train')
        theirs.train(mode == 'train')
        # train mode with norm_eval keeps BN in eval; with it off, batch statistics are used
        # (and running statistics updated identically)
        with torch.no_grad():
            outs, refs = ours(x), theirs(x)
        assert len(outs) == len(refs)
        for o, r in zip(outs, refs):
            torch.testing.assert_close(o, r, rtol=0, atol=0)
        for (n, b), (_, rb) in zip(ours.named_buffers(), theirs.named_buffers()):
            torch.testing.assert_close(b, rb, rtol=0, atol=0, msg=n)


def test_a_plugin_in_mmdet_is_a_plugin_here():
    """A checkpoint of mmdet's GCNet R-50 (plugin keys layer3.0.context_block.*) loads
    strictly, and the plugin instances are mmcv's classes, named as mmdet names them."""
    ours, theirs = _pair(DetResNet, MMDetResNet, CONFIGS['chained_with_postfixes'])
    block, ref = ours.layer4[0], theirs.layer4[0]
    for position in ('after_conv1', 'after_conv2', 'after_conv3'):
        names = getattr(block, f'{position}_plugin_names')
        assert names == getattr(ref, f'{position}_plugin_names'), position
        assert [type(getattr(block, n)) for n in names] == [type(getattr(ref, n)) for n in names]


ERRORS = {
    'wrong_position': (50, [dict(cfg=dict(type='ContextBlock', ratio=.25),
                                 position='after_conv4')]),
    'stages_of_wrong_length': (50, [dict(cfg=dict(type='ContextBlock', ratio=.25),
                                         stages=(True, True), position='after_conv3')]),
    'duplicate_without_postfix': (50, [dict(cfg=dict(type='ContextBlock', ratio=.25),
                                            position='after_conv3')] * 2),
    'unknown_type': (50, [dict(cfg=dict(type='NoSuchPlugin'), position='after_conv3')]),
}


@pytest.mark.parametrize('name', sorted(ERRORS))
def test_errors_keep_mmdets_exception_classes(name):
    """Each config mmdet refuses is refused here too, with an exception of (a subclass of)
    the class mmdet raises; attnplug's message names the stage and position."""
    depth, plugins = ERRORS[name]
    with pytest.raises(Exception) as theirs:
        MMDetResNet(depth=depth, base_channels=8, plugins=plugins)
    with pytest.raises(type(theirs.value)) as ours:
        DetResNet(depth=depth, base_channels=8, plugins=plugins)
    assert 'DetResNet' in str(ours.value) or 'stage' in str(ours.value), ours.value


def test_invalid_depth_raises_keyerror_as_mmdet():
    with pytest.raises(KeyError):
        MMDetResNet(depth=42)
    with pytest.raises(KeyError):
        DetResNet(depth=42)


def test_basic_block_plugins_are_the_one_deliberate_difference():
    """mmdet's BasicBlock asserts ``plugins is None``; attnplug builds them (docs:
    "Differences from the originals")."""
    plugins = [dict(cfg=dict(type='ContextBlock', ratio=.25), position='after_conv2')]
    with pytest.raises(AssertionError):
        MMDetResNet(depth=18, base_channels=8, plugins=plugins)
    model = DetResNet(depth=18, base_channels=8, plugins=plugins)
    assert sum(1 for _ in model.named_plugins()) == 8
