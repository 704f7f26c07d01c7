"""Every layer's and head's state-dict keys and shapes, held against a list committed before
the layer-convention refactor (tests/layers/state_dict_keys.json), so that checkpoints keep
loading.

The JSON is written from the cases here by ``python tools/freeze_state_dict_keys.py`` (first
from the code before the refactor); regenerate it only for a deliberate, documented key change.
Constructor arguments may be renamed here (the convention renames a few); the cases' names and
the keys they produce must not change.
"""
import json
from pathlib import Path

import pytest

KEYS_FILE = Path(__file__).with_name('state_dict_keys.json')


def _layer_cases():
    from attnplug import layers as L
    return {
        'SqueezeExcitation/default': lambda: L.SqueezeExcitation(16),
        'SqueezeExcitation/r4-div8': lambda: L.SqueezeExcitation(16, reduction=4, divisor=8),
        'SqueezeExcitation/hidden5': lambda: L.SqueezeExcitation(16, hidden_channels=5),
        'ECA/default': lambda: L.ECA(16),
        'ECA/k5': lambda: L.ECA(16, kernel_size=5),
        'CBAM/r4': lambda: L.CBAM(16, reduction=4),
        'CBAM/k3': lambda: L.CBAM(16, spatial_kernel=3),
        'CBAM/authors': lambda: L.CBAM(16, variant='authors'),
        'BAM/r4': lambda: L.BAM(16, reduction=4),
        'BAM/r4-no-norm': lambda: L.BAM(16, reduction=4, norm_cfg=None),
        'BAM/one-dilated': lambda: L.BAM(16, num_dilated_convs=1),
        'BAM/r4-authors': lambda: L.BAM(16, reduction=4, variant='authors'),
        'SCSE/default': lambda: L.SCSE(16),
        'SCSE/r4-max': lambda: L.SCSE(16, reduction=4, fusion='max'),
        'CoordAttention/default': lambda: L.CoordAttention(16),
        'CoordAttention/r4-min2': lambda: L.CoordAttention(16, reduction=4,
                                                           min_hidden_channels=2),
        'SKConv/default': lambda: L.SKConv(16, 16),
        'SKConv/g4-m3-d8': lambda: L.SKConv(16, 32, groups=4, num_branches=3,
                                            hidden_channels=8),
        'SKConv/gn': lambda: L.SKConv(16, 16, attn_norm_cfg=dict(type='GN', num_groups=1)),
        'SKConv/branch-cfgs': lambda: L.SKConv(
            32, 32, branch_cfgs=[dict(groups=1, dilation=1), dict(groups=32, dilation=1)],
            min_hidden_channels=1),
        'AttentionGate/default': lambda: L.AttentionGate(8, 12),
        'AttentionGate/hidden3': lambda: L.AttentionGate(8, 12, hidden_channels=3),
        'AttentionGate/authors': lambda: L.AttentionGate(8, 12, variant='authors'),
        'AttentionRefinementModule/default': lambda: L.AttentionRefinementModule(16),
        'AttentionRefinementModule/out8': lambda: L.AttentionRefinementModule(16, out_channels=8),
        'AttentionRefinementModule/no-conv': lambda: L.AttentionRefinementModule(
            16, with_input_conv=False),
        'GlobalContextBlock/default': lambda: L.GlobalContextBlock(16),
        'GlobalContextBlock/avg-add-mul': lambda: L.GlobalContextBlock(
            16, ratio=1. / 4, pooling_type='avg', fusion_types=('channel_add', 'channel_mul')),
        'CrissCrossAttention/default': lambda: L.CrissCrossAttention(16),
        'CrissCrossAttention/r4': lambda: L.CrissCrossAttention(16, reduction=4),
        'PositionAttention/default': lambda: L.PositionAttention(16),
        'PositionAttention/c4': lambda: L.PositionAttention(16, channels=4),
        'ChannelAttention/default': lambda: L.ChannelAttention(16),
        'MultiHeadSelfAttention2d/default': lambda: L.MultiHeadSelfAttention2d(16),
        'MultiHeadSelfAttention2d/relative': lambda: L.MultiHeadSelfAttention2d(
            16, num_heads=2, pos_encoding='relative', max_size=8),
        'MultiHeadSelfAttention2d/no-pos-no-bias': lambda: L.MultiHeadSelfAttention2d(
            16, num_heads=4, head_channels=2, qkv_bias=False, pos_encoding=None),
        'NonLocal2d/default': lambda: L.NonLocal2d(16),
        'NonLocal2d/sub-sample': lambda: L.NonLocal2d(16, sub_sample=True),
        'NonLocal2d/gaussian-sub-sample': lambda: L.NonLocal2d(16, mode='gaussian',
                                                               sub_sample=True),
        'NonLocal2d/bn': lambda: L.NonLocal2d(16, norm_cfg=dict(type='BN')),
        'NonLocal2d/dot-gn': lambda: L.NonLocal2d(16, reduction=4, mode='dot_product',
                                                  norm_cfg=dict(type='GN', num_groups=2)),
        'TripletAttention/default': lambda: L.TripletAttention(16),
        'TripletAttention/no-spatial-no-norm': lambda: L.TripletAttention(
            16, no_spatial=True, norm_cfg=None),
        'EfficientMultiScaleAttention/default': lambda: L.EfficientMultiScaleAttention(64),
        'EfficientMultiScaleAttention/g4': lambda: L.EfficientMultiScaleAttention(16, groups=4),
        'ShuffleAttention/default': lambda: L.ShuffleAttention(256),
        'ShuffleAttention/g2': lambda: L.ShuffleAttention(16, groups=2),
        'SpatialGroupEnhance/default': lambda: L.SpatialGroupEnhance(64),
        'SpatialGroupEnhance/g4': lambda: L.SpatialGroupEnhance(16, groups=4),
        'GatedChannelTransformation/default': lambda: L.GatedChannelTransformation(16),
        'GatedChannelTransformation/l1': lambda: L.GatedChannelTransformation(16, mode='l1'),
        'PolarizedSelfAttention/parallel': lambda: L.PolarizedSelfAttention(16),
        'PolarizedSelfAttention/sequential': lambda: L.PolarizedSelfAttention(
            16, variant='sequential'),
        'LargeKernelAttention/default': lambda: L.LargeKernelAttention(16),
        'ExternalAttention/default': lambda: L.ExternalAttention(16),
        'ExternalAttention/s8-no-norm': lambda: L.ExternalAttention(16, hidden_channels=8,
                                                                    norm_cfg=None),
        'ContextualTransformer/default': lambda: L.ContextualTransformer(16),
        'SRM/default': lambda: L.SRM(16),
    }


def _model_cases():
    from attnplug.models.backbones import AttentionUNet
    from attnplug.models.decode_heads import AttnFCNHead, CCHead, DAHead, NLHead
    from attnplug.models.necks import AttentionFPN
    head = dict(in_channels=16, channels=8, num_classes=3)
    return {
        'DAHead/tiny': lambda: DAHead(pam_channels=2, **head),
        'CCHead/tiny': lambda: CCHead(**head),
        'NLHead/tiny': lambda: NLHead(**head),
        'NLHead/dot-r4': lambda: NLHead(reduction=4, mode='dot_product', **head),
        'AttnFCNHead/cbam': lambda: AttnFCNHead(attn_cfg=dict(type='attnplug.CBAM',
                                                              reduction=2), **head),
        'AttnFCNHead/none': lambda: AttnFCNHead(attn_cfg=None, **head),
        'AttentionUNet/tiny': lambda: AttentionUNet(base_channels=4),
        'AttentionUNet/hidden3': lambda: AttentionUNet(base_channels=4,
                                                       gate_cfg=dict(hidden_channels=3)),
        'AttentionFPN/cbam-both': lambda: AttentionFPN(
            [4, 6, 8, 10], 8, num_outs=5, attn_cfg=dict(type='attnplug.CBAM', reduction=2),
            attn_position='both'),
    }


def _describe(module):
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def _current(cases):
    return {name: _describe(build()) for name, build in cases.items()}


def _expected(prefix_filter):
    data = json.loads(KEYS_FILE.read_text())
    return {k: v for k, v in data.items() if prefix_filter(k)}


_MODEL_NAMES = ('DAHead/', 'CCHead/', 'NLHead/', 'AttnFCNHead/', 'AttentionUNet/',
                'AttentionFPN/')


def _is_model(name):
    return name.startswith(_MODEL_NAMES)


def _compare(expected, current):
    assert sorted(current) == sorted(expected), 'the set of cases changed'
    for name in expected:
        exp, cur = expected[name], current[name]
        missing, extra = sorted(set(exp) - set(cur)), sorted(set(cur) - set(exp))
        assert not missing and not extra, f'{name}: missing keys {missing}, new keys {extra}'
        shapes = {k: (exp[k], cur[k]) for k in exp if exp[k] != cur[k]}
        assert not shapes, f'{name}: changed shapes {shapes}'


def test_layer_state_dict_keys_unchanged():
    _compare(_expected(lambda k: not _is_model(k)), _current(_layer_cases()))


def test_head_state_dict_keys_unchanged():
    pytest.importorskip('mmseg')
    pytest.importorskip('mmdet')
    _compare(_expected(_is_model), _current(_model_cases()))


def test_the_check_fails_on_a_renamed_key():
    """The comparison is not vacuous: one renamed key is reported."""
    expected = _expected(lambda k: k == 'BAM/r4')
    current = {'BAM/r4': dict(expected['BAM/r4'])}
    current['BAM/r4']['gamma.scale'] = current['BAM/r4'].pop('gamma')
    with pytest.raises(AssertionError, match=r"missing keys \['gamma'\]"):
        _compare(expected, current)
