"""Tests of attnplug.AttentionFPN / SegAttentionFPN (FPN necks with attention).

Tiny necks on odd sizes against mmdet's and mmseg's ``FPN``; a tiny mmdet
Faster R-CNN and a tiny mmseg Semantic FPN built from the stock configs with
only the neck type switched; every FPN config this project ships.
"""
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmdet.models.necks import FPN as MMDetFPN
from mmseg.models.necks import FPN as MMSegFPN

import mmcv.cnn  # noqa: F401  (registers mmcv's ContextBlock)
from attnplug.layers import CBAM
from attnplug.models.necks import AttentionFPN, SegAttentionFPN
from attnplug.registry import MODELS
from attnplug.testing import randomise

ROOT = Path(__file__).resolve().parents[2]
IN_CHANNELS = [4, 6, 8, 10]
SIZES = [(33, 47), (17, 24), (9, 12), (5, 6)]  # odd, as a stride-2 backbone leaves them
CBAM_CFG = dict(type='attnplug.CBAM', reduction=2)


def _inputs(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, c, *s, generator=gen) for c, s in zip(IN_CHANNELS, SIZES)]


def _copy_and_compare(stock, ours, strict=True):
    randomise(stock, spread=0.2)
    result = ours.load_state_dict(stock.state_dict(), strict=strict)
    stock.eval(), ours.eval()
    x = _inputs()
    with torch.no_grad():
        expected, got = stock(x), ours(x)
    return result, expected, got


# ---------------------------------------------------------------- plain FPN when attn_cfg=None
FPN_VARIANTS = [
    dict(num_outs=4),
    dict(num_outs=5),  # max-pooled P6, as Faster R-CNN
    dict(num_outs=5, add_extra_convs='on_input'),
    dict(num_outs=6, add_extra_convs='on_lateral', relu_before_extra_convs=True),
    dict(num_outs=5, add_extra_convs='on_output', norm_cfg=dict(type='BN'),
         act_cfg=dict(type='ReLU'), no_norm_on_lateral=True),
    dict(num_outs=3, start_level=1),
    dict(num_outs=4, upsample_cfg=dict(mode='bilinear', align_corners=False)),
]


@pytest.mark.parametrize('kwargs', FPN_VARIANTS)
def test_no_attention_is_mmdet_fpn(kwargs):
    stock = MMDetFPN(IN_CHANNELS, 8, **kwargs)
    ours = AttentionFPN(IN_CHANNELS, 8, **kwargs)
    result, expected, got = _copy_and_compare(stock, ours)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(ours.state_dict()) == list(stock.state_dict())
    assert len(got) == len(expected) == kwargs['num_outs']
    for a, b in zip(expected, got):
        assert torch.equal(a, b)


@pytest.mark.parametrize('kwargs', FPN_VARIANTS[:5] + [
    dict(num_outs=2, start_level=1, end_level=3),  # exclusive in mmseg
    dict(num_outs=5, add_extra_convs=True),  # 'on_output' in mmseg
    dict(num_outs=5, add_extra_convs=True, extra_convs_on_inputs=True),
])
def test_no_attention_is_mmseg_fpn(kwargs):
    stock = MMSegFPN(IN_CHANNELS, 8, **kwargs)
    ours = SegAttentionFPN(IN_CHANNELS, 8, **kwargs)
    result, expected, got = _copy_and_compare(stock, ours)
    assert not result.missing_keys and not result.unexpected_keys
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    if 'end_level' in kwargs or 'add_extra_convs' in kwargs and kwargs['add_extra_convs'] is True:
        return
    # with the arguments both FPNs share, AttentionFPN (mmdet's) is mmseg's FPN too
    ours = AttentionFPN(IN_CHANNELS, 8, **kwargs)
    ours.load_state_dict(stock.state_dict(), strict=True)
    ours.eval()
    with torch.no_grad():
        for a, b in zip(expected, ours(_inputs())):
            assert torch.equal(a, b)


# ---------------------------------------------------------------- with attention
@pytest.mark.parametrize('position,lateral,output', [('lateral', True, False),
                                                     ('output', False, True),
                                                     ('both', True, True)])
def test_attention_positions_keys_and_gradients(position, lateral, output):
    stock = MMDetFPN(IN_CHANNELS, 8, num_outs=5)
    ours = AttentionFPN(IN_CHANNELS, 8, num_outs=5, attn_cfg=CBAM_CFG, attn_position=position)
    ours.init_weights()
    assert (ours.lateral_attns is not None) == lateral
    assert (ours.output_attns is not None) == output
    cbam_keys = list(CBAM(8, reduction=2).state_dict())
    expected_missing = {f'{prefix}.{level}.{k}' for prefix, on in (('lateral_attns', lateral),
                                                                   ('output_attns', output))
                        if on for level in range(4) for k in cbam_keys}
    result, expected, got = _copy_and_compare(stock, ours, strict=False)
    assert result.unexpected_keys == [] and set(result.missing_keys) == expected_missing
    assert [o.shape for o in got] == [o.shape for o in expected]
    assert not torch.allclose(got[0], expected[0])
    ours.train()
    outs = ours(_inputs())
    sum(o.square().mean() for o in outs).backward()
    for attns in (ours.lateral_attns, ours.output_attns):
        for level, block in enumerate(attns or ()):
            grads = [p.grad for p in block.parameters()]
            # per block: a tiny MLP can have all its ReLU units off for one tensor
            assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_lateral_attention_comes_before_the_top_down_sum():
    ours = AttentionFPN(IN_CHANNELS, 8, num_outs=4, attn_cfg=CBAM_CFG, attn_position='lateral')
    seen = []
    for level, block in enumerate(ours.lateral_attns):
        block.register_forward_hook(lambda m, a, out, level=level: seen.append((level, a[0])))
    lateral_outs = {}
    for level, conv in enumerate(ours.lateral_convs):
        conv.register_forward_hook(
            lambda m, a, out, level=level: lateral_outs.__setitem__(level, out))
    with torch.no_grad():
        ours(_inputs())
    assert sorted(level for level, _ in seen) == [0, 1, 2, 3]
    for level, x in seen:  # each block sees its own lateral conv's output, not a sum
        assert x is lateral_outs[level]


@pytest.mark.parametrize('attn_cfg', [dict(type='ContextBlock', ratio=1. / 4),
                                      dict(type='attnplug.NonLocal2d')])
def test_zero_initialised_blocks_start_as_identity(attn_cfg):
    """The FPN's Xavier init hits the blocks' convs; the neck then restores each
    block's own init (``init_weights()``, or ``reset_parameters()`` for mmcv's
    ContextBlock), so residual blocks with a zero last conv start as identities."""
    stock = MMDetFPN(IN_CHANNELS, 8, num_outs=5)
    ours = AttentionFPN(IN_CHANNELS, 8, num_outs=5, attn_cfg=attn_cfg, attn_position='both')
    ours.init_weights()
    result, expected, got = _copy_and_compare(stock, ours, strict=False)
    assert result.unexpected_keys == []
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


class _Shrink(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.in_channels = in_channels

    def forward(self, x):
        return x[..., :-1]


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(attn_cfg=CBAM_CFG, attn_position='input'), ValueError,
     r"AttentionFPN: attn_position='input' is not valid.*'lateral', 'output', 'both'"),
    (dict(attn_cfg=dict(reduction=2)), ValueError, "attn_cfg must be a dict with a 'type'"),
    (dict(attn_cfg=dict(type='attnplug.CBAM', in_channels=4)), ValueError,
     r'AttentionFPN \(out_channels=8\): attn_cfg \(attnplug.CBAM\) has in_channels=4, but '
     r'.* has 8 channels'),
    (dict(attn_cfg=dict(type='attnplug.NoSuchBlock')), KeyError, 'NoSuchBlock'),
    (dict(attn_cfg=dict(type='NoSuchBlock')), KeyError, 'Known plugin types'),
])
def test_bad_options_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionFPN(IN_CHANNELS, 8, num_outs=4, **kwargs)


def test_bad_inputs_fail_clearly():
    ours = AttentionFPN(IN_CHANNELS, 8, num_outs=4, attn_cfg=CBAM_CFG)
    with pytest.raises(ValueError, match=r'AttentionFPN: expected 4 input levels'):
        ours(_inputs()[:3])
    ours = AttentionFPN(IN_CHANNELS, 8, num_outs=4, attn_cfg=dict(type=_Shrink))
    with pytest.raises(RuntimeError, match=r"\[_Shrink\] at 'output' of AttentionFPN level 0"):
        ours(_inputs())


def test_registered():
    assert MODELS.get('AttentionFPN') is AttentionFPN
    assert MODELS.get('SegAttentionFPN') is SegAttentionFPN


# ---------------------------------------------------------------- in mmdet and mmseg models
def _config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(textwrap.dedent(text))
    return Config.fromfile(str(path))


def _build(scope, model_cfg):
    registry = pytest.importorskip(f'{scope}.registry').MODELS
    pytest.importorskip(f'{scope}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


def test_mmdet_faster_rcnn_forward_backward(tmp_path):
    cfg = _config(tmp_path, """
        _base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
        model = dict(
            backbone=dict(depth=18, base_channels=8, init_cfg=None),
            neck=dict(type='attnplug.AttentionFPN', in_channels=[8, 16, 32, 64], out_channels=16,
                      attn_cfg=dict(type='attnplug.CBAM', reduction=4), attn_position='both'),
            rpn_head=dict(in_channels=16, feat_channels=16),
            roi_head=dict(
                bbox_roi_extractor=dict(out_channels=16),
                bbox_head=dict(in_channels=16, fc_out_channels=32)))
    """)
    model = _build('mmdet', cfg.model)
    assert type(model.neck) is AttentionFPN and model.neck.num_outs == 5
    model.init_weights()
    from mmdet.testing import demo_mm_inputs
    with DefaultScope.overwrite_default_scope('mmdet'):
        packed = demo_mm_inputs(batch_size=2, image_shapes=[(3, 64, 96), (3, 64, 96)],
                                num_items=[3, 2], num_classes=80)
        data = model.data_preprocessor(packed, True)
        model.train()
        losses = model(**data, mode='loss')
        total = sum(v if isinstance(v, torch.Tensor) else sum(v)
                    for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(total)
        total.backward()
        for name, p in model.neck.named_parameters():
            if 'attns' in name:
                assert p.grad is not None, name
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(data['inputs'])
            results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert [tuple(f.shape[1:]) for f in feats] == [(16, 16, 24), (16, 8, 12), (16, 4, 6),
                                                   (16, 2, 3), (16, 1, 2)]
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')


@pytest.mark.parametrize('head', ['FPNHead', 'UPerHead'])
def test_mmseg_segmentor_forward(tmp_path, head):
    """Semantic FPN as in mmseg's fpn_r50 base; UPerHead on the neck's outputs too."""
    uper = """decode_head=dict(
                _delete_=True, type='UPerHead', in_channels=[16, 16, 16, 16], in_index=[0, 1, 2, 3],
                pool_scales=(1, 2, 3, 6), channels=8, dropout_ratio=0.1, num_classes=19,
                norm_cfg=norm_cfg, align_corners=False,
                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))"""
    fpn = "decode_head=dict(in_channels=[16, 16, 16, 16], channels=8, norm_cfg=norm_cfg)"
    cfg = _config(tmp_path, f"""
        _base_ = ['mmseg::_base_/models/fpn_r50.py']
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(
            pretrained=None,
            backbone=dict(depth=18, stem_channels=8, base_channels=8, norm_cfg=norm_cfg),
            neck=dict(type='attnplug.AttentionFPN', in_channels=[8, 16, 32, 64], out_channels=16,
                      attn_cfg=dict(type='attnplug.CBAM', reduction=4)),
            {uper if head == 'UPerHead' else fpn})
    """)
    model = _build('mmseg', cfg.model)
    assert type(model.neck) is AttentionFPN and type(model.decode_head).__name__ == head
    model.init_weights()
    x = torch.rand(2, 3, 64, 96)
    model.train()
    logits = model(x, mode='tensor')
    assert logits.shape == (2, 19, 16, 24)  # both heads predict at stride 4
    logits.mean().backward()
    assert all(p.grad is not None for p in model.neck.output_attns.parameters())


# ---------------------------------------------------------------- this project's configs
def test_project_fpn_configs_build():
    seg = Config.fromfile(
        str(ROOT / 'configs/attention_fpn/fpn_r50-cbam-fpn_4xb2-80k_cityscapes-512x1024.py'))
    det = Config.fromfile(str(ROOT / 'configs/attention_fpn/faster-rcnn_r50_cbam-fpn_1x_coco.py'))
    for cfg in (seg, det):
        assert cfg.model.neck.type == 'attnplug.AttentionFPN'
        assert cfg.model.neck.attn_cfg.type == 'attnplug.CBAM'
        assert 'custom_imports' not in cfg
    seg.model.pretrained = None
    seg.model.backbone.init_cfg = None
    det.model.backbone.init_cfg = None
    x = torch.rand(1, 3, 64, 96)
    for scope, cfg in (('mmseg', seg), ('mmdet', det)):
        model = _build(scope, cfg.model)
        assert type(model.neck) is AttentionFPN
        assert len(model.neck.output_attns) == 4 and model.neck.lateral_attns is None
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(x)
        assert all(f.shape[1] == 256 for f in feats)
        assert len(feats) == (4 if scope == 'mmseg' else 5)
