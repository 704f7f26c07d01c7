"""attnplug's ResNets as one-line drop-ins in the stock mmdet and mmseg configs.

Each config here is a short delta over a stock ``mmdet::``/``mmseg::`` base,
as a user would write it; the built model is compared with the stock one.
Full-size models (R-50), built once per test, run on one small image.
"""
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from attnplug.models.backbones import ResNet, ResNetV1c
from attnplug.testing import randomise


def _config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(textwrap.dedent(text))
    return Config.fromfile(str(path))


def _build(scope, model_cfg):
    registry = pytest.importorskip(f'{scope}.registry').MODELS
    pytest.importorskip(f'{scope}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


def test_mmdet_gcnet_config_with_attnplug_resnet(tmp_path):
    """mmdet's GCNet Mask R-CNN (ContextBlock plugins, c3-c5) with only the
    backbone type changed: same modules, same keys (mmdet's GCNet checkpoints
    load), same features."""
    base = "_base_ = ['mmdet::gcnet/mask-rcnn_r50-gcb-r16-c3-c5_fpn_1x_coco.py']\n"
    stock_cfg = _config(tmp_path, base + "model = dict(backbone=dict(init_cfg=None))\n")
    ours_cfg = _config(
        tmp_path, base + "model = dict(backbone=dict(type='attnplug.ResNet', init_cfg=None))\n")
    stock, ours = _build('mmdet', stock_cfg.model), _build('mmdet', ours_cfg.model)
    assert type(ours.backbone) is ResNet
    assert ours.backbone.norm_eval is True and ours.backbone.frozen_stages == 1
    assert sum(1 for r in ours.backbone.named_plugins() if r.name == 'context_block') == 4 + 6 + 3
    randomise(stock, spread=0.2)
    result = ours.load_state_dict(stock.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    stock.eval(), ours.eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        feats_stock, feats_ours = stock.extract_feat(x), ours.extract_feat(x)
    assert len(feats_ours) == 5
    for a, b in zip(feats_stock, feats_ours):
        assert torch.equal(a, b)


def test_mmdet_faster_rcnn_with_stage_plugins(tmp_path):
    cfg = _config(tmp_path, """
        _base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
        model = dict(backbone=dict(
            type='attnplug.ResNet', init_cfg=None,
            plugins=[dict(cfg=dict(type='NonLocal2d'), stages=(False, False, True, True),
                          position='after_stage')]))
    """)
    model = _build('mmdet', cfg.model)
    model.init_weights()
    assert [r.path for r in model.backbone.named_plugins()] == [
        'after_stage_plugins.layer3.nonlocal_block', 'after_stage_plugins.layer4.nonlocal_block']
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == [256] * 5


def test_mmseg_fcn_config_with_attnplug_resnetv1c(tmp_path):
    # Narrower heads than the stock 512/256 channels keep the test fast; the
    # backbone is the stock full-size ResNetV1c-50-d8.
    def fcn(backbone=''):
        return _config(tmp_path, "_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']\n"
                       'model = dict(pretrained=None, decode_head=dict(channels=32), '
                       f'auxiliary_head=dict(channels=16), {backbone})\n')

    stock_cfg = fcn()
    ours_cfg = fcn("backbone=dict(type='attnplug.ResNetV1c')")
    stock, ours = _build('mmseg', stock_cfg.model), _build('mmseg', ours_cfg.model)
    assert type(ours.backbone) is ResNetV1c
    randomise(stock, spread=0.2)
    ours.load_state_dict(stock.state_dict(), strict=True)
    stock.eval(), ours.eval()
    x = torch.rand(1, 3, 33, 47)
    with torch.no_grad():
        stock_out = stock._forward(x)
        assert torch.equal(ours._forward(x), stock_out)

    # the plugin delta: one backbone line, GC blocks in stages 2-4 and one after stage 4
    plugged_cfg = fcn("""backbone=dict(
        type='attnplug.ResNetV1c',
        plugins=[dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                      stages=(False, True, True, True), position='after_conv3'),
                 dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                      stages=(False, False, False, True), position='after_stage')])""")
    plugged = _build('mmseg', plugged_cfg.model)
    plugged.backbone.init_weights()
    result = plugged.load_state_dict(stock.state_dict(), strict=False)
    assert result.unexpected_keys == [] and all('context_block' in k for k in result.missing_keys)
    assert any(k.startswith('backbone.after_stage_plugins.layer4.context_block.')
               for k in result.missing_keys)
    plugged.eval()
    with torch.no_grad():  # zero-initialised GC blocks: the stock model's output
        assert torch.equal(plugged._forward(x), stock_out)
