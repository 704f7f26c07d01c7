"""Every config of configs/with_plugins loads, keeps its base's keys, and builds offline (pretrained
weights removed): the backbone is the wrapped class with one plugin per block or stage its name
promises, and its state-dict keys are the plain backbone's plus plugin keys only."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from attnplug.analysis.build import strip_pretrained
from attnplug.models.with_plugins import PLUGINS_ATTR, plugin_sites

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'with_plugins'

#: config -> number of plugin sites: one per block of stages 2-4, or one per stage c3-c5
#: (depths: MiT-B0/B1 (2,2,2,2), MiT-B2 (3,4,6,3), Swin-T (2,2,6,2))
SITES = {
    'segformer_mit-b0-cbam_8xb2-160k_ade20k-512x512.py': 6,
    'segformer_mit-b1-cbam_8xb2-160k_ade20k-512x512.py': 6,
    'segformer_mit-b2-cbam_8xb2-160k_ade20k-512x512.py': 13,
    'segformer_mit-b0-cbam_8xb1-160k_cityscapes-1024x1024.py': 6,
    'segformer_mit-b1-cbam_8xb1-160k_cityscapes-1024x1024.py': 6,
    'segformer_mit-b2-cbam_8xb1-160k_cityscapes-1024x1024.py': 13,
    'upernet_swin-t-cbam_8xb2-160k_ade20k-512x512.py': 10,
    'upernet_swin-t-cbam_8xb2-80k_cityscapes-512x1024.py': 10,
    'rtmdet_tiny-cbam-c3-c5_8xb32-300e_coco.py': 3,
    'rtmdet_s-cbam-c3-c5_8xb32-300e_coco.py': 3,
    'yolox_s-cbam-c3-c5_8xb8-300e_coco.py': 3,
    'mask-rcnn_swin-t-p4-w7-cbam-c3-c5_fpn_1x_coco.py': 10,
    'segformer_mit-w16-cbam_1xb4-300iter_cityscapes-bundled-128x256.py': 6,
    'rtmdet_cspnext-w16-cbam-c3-c5_300iter_coco-bundled.py': 3,
}


def test_every_config_is_listed():
    assert sorted(p.name for p in CONFIGS.glob('*.py')) == sorted(SITES)


@pytest.mark.parametrize('name', sorted(SITES))
def test_config_builds_offline(name):
    raw = Config.fromfile(str(CONFIGS / name))
    backbone_cfg = raw.model.backbone
    assert backbone_cfg.type == 'attnplug.WithPlugins'
    # a delta: the base's keys are still there (its pretrained init, for the full-size ones)
    if name.startswith('yolox'):  # YOLOX trains from scratch: check its size keys instead
        assert (backbone_cfg.deepen_factor, backbone_cfg.widen_factor) == (0.33, 0.5)
    elif 'bundled' not in name:
        assert backbone_cfg.init_cfg['type'] == 'Pretrained'
    cfg = Config.fromfile(str(CONFIGS / name))
    strip_pretrained(cfg.model)
    scope = cfg.default_scope
    registry = pytest.importorskip(f'{scope}.registry').MODELS
    pytest.importorskip(f'{scope}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
        plain_cfg = {k: v for k, v in cfg.model.backbone.items() if k not in ('plugins', 'wraps')}
        plain_cfg['type'] = cfg.model.backbone.wraps
        plain = registry.build(plain_cfg)
    backbone = model.backbone
    assert isinstance(backbone, type(plain))
    sites = plugin_sites(backbone)
    assert len(sites) == SITES[name]
    assert all(s.plugin_names == ['cbam'] for s in sites)
    keys, plain_keys = set(backbone.state_dict()), set(plain.state_dict())
    assert plain_keys < keys
    assert all(k.startswith(PLUGINS_ATTR + '.') for k in keys - plain_keys)
