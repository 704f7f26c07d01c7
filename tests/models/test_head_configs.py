"""Every config of the attention heads builds with mmseg's registry (pretrained=None,
SyncBN -> BN); the full-size ones are one-line deltas over mmseg's official configs whose
decode-head keys match, the bundled ones run and match the FCN baseline but for the head."""
import ast
import copy
import functools
from pathlib import Path

import mmseg
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from attnplug.models.decode_heads import AttnFCNHead, CCHead, DAHead, NLHead

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ('danet', 'ccnet', 'nonlocal_net', 'attn_fcn', 'sknet')
# The segmentation configs of these folders (they also hold detection configs).
CONFIGS = sorted(
    p for folder in FOLDERS for p in (ROOT / 'configs' / folder).glob('*.py')
    if p.name.startswith(('danet_', 'ccnet_', 'nonlocal_', 'fcn-', 'fcn_')))
BUNDLED = [p for p in CONFIGS if 'bundled' in p.name]
FULL_SIZE = [p for p in CONFIGS if 'bundled' not in p.name]
BASELINE = ROOT / 'configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
HEADS = {'danet': DAHead, 'ccnet': CCHead, 'nonlocal_net': NLHead, 'attn_fcn': AttnFCNHead}


def _ids(paths):
    return [p.name for p in paths]


def _plain(cfg):
    """A plain dict copy with SyncBN -> BN (one CPU process) and no download."""
    def convert(node):
        if isinstance(node, dict):
            return {k: ('BN' if k == 'type' and v == 'SyncBN' else convert(v))
                    for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(convert(v) for v in node)
        return node

    model = convert(cfg.to_dict()['model'])
    model['pretrained'] = None
    model.pop('_scope_', None)  # set on configs that inherit an mmseg:: file
    return model


def _build(model_cfg, device=None):
    """Build with mmseg's registry; on the meta device the full-size models cost no time
    (structure and keys only)."""
    register_all_modules(init_default_scope=True)
    with torch.device(device or 'cpu'):
        return MODELS.build(ConfigDict(copy.deepcopy(model_cfg)))


def _official(path):
    """The ``mmseg::`` base a full-size config inherits, loaded on its own."""
    tree = ast.parse(path.read_text())
    base = next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and node.targets[0].id == '_base_')
    assert len(base) == 1 and base[0].startswith('mmseg::'), base
    return Config.fromfile(str(Path(mmseg.__file__).parent / '.mim/configs' /
                               base[0][len('mmseg::'):]))


def test_every_config_is_import_free_and_listed():
    assert len(FULL_SIZE) == 14 and len(BUNDLED) == 5
    for path in CONFIGS:
        assert not [n for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, (ast.Import, ast.ImportFrom))], path.name
    for folder in FOLDERS:
        assert (ROOT / 'configs' / folder / 'README.md').is_file(), folder


@pytest.mark.parametrize('path', FULL_SIZE, ids=_ids(FULL_SIZE))
def test_full_size_config_is_the_official_one_with_attnplug_parts(path):
    ours_cfg, official_cfg = _plain(Config.fromfile(str(path))), _plain(_official(path))
    ours, official = copy.deepcopy(ours_cfg), copy.deepcopy(official_cfg)
    folder = path.parent.name
    if folder == 'sknet':
        dcn = ours['backbone'].pop('dcn')
        assert dcn['type'] == 'attnplug.SKConv'
        assert ours['backbone'].pop('stage_with_dcn') == (False, True, True, True)
        assert ours['backbone'].pop('type') == 'attnplug.ResNetV1c'
        official['backbone'].pop('type')
    else:
        head_type = ours['decode_head'].pop('type')
        assert head_type == f'attnplug.{HEADS[folder].__name__}'
        official['decode_head'].pop('type')
        if folder == 'attn_fcn':
            assert ours['decode_head'].pop('attn_cfg')['type'] in (
                'attnplug.CBAM', 'attnplug.SqueezeExcitation')
    assert ours == official  # nothing else differs from mmseg's config

    model = _build(ours_cfg, device='meta')
    if folder == 'sknet':
        from attnplug.layers import SKConv
        convs = [m for m in model.backbone.modules() if isinstance(m, SKConv)]
        assert len(convs) == 4 + 6 + 3 and {c.groups for c in convs} == {32}
        # what README.md says: only the 13 replaced conv2 weights of a ResNet checkpoint are
        # left unused, only the SK weights are new
        stock = set(_build(official_cfg, device='meta').backbone.state_dict())
        keys = set(model.backbone.state_dict())
        assert sorted(stock - keys) == sorted(f'layer{i}.{j}.conv2.weight'
                                              for i, n in ((2, 4), (3, 6), (4, 3))
                                              for j in range(n))
        assert all('.conv2.' in k and not k.startswith('layer1.') for k in keys - stock)
        return
    assert type(model.decode_head) is HEADS[folder]
    stock_keys = set(_build(official_cfg, device='meta').decode_head.state_dict())
    keys = set(model.decode_head.state_dict())
    if folder == 'attn_fcn':  # FCNHead's keys plus the plugin's
        assert stock_keys < keys and all(k.startswith('attn.') for k in keys - stock_keys)
    else:  # an official checkpoint's decode_head loads with strict=True
        assert keys == stock_keys


def _batch(num_classes=19, size=(32, 64)):
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 3, *size, generator=gen)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=size, pad_shape=size, ori_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *size),
                                                         generator=gen))
        samples.append(sample)
    return inputs, samples


@pytest.mark.parametrize('path', BUNDLED, ids=_ids(BUNDLED))
def test_bundled_config_builds_trains_and_predicts(path):
    cfg = Config.fromfile(str(path))
    model = _build(_plain(cfg))
    assert type(model.decode_head) is HEADS[path.parent.name]
    base_head = _baseline()['model']['decode_head']  # the widths the FCN baseline uses
    assert (model.decode_head.channels, model.decode_head.in_channels) == \
        (base_head['channels'], base_head['in_channels'])
    inputs, samples = _batch()
    model.train()
    losses = model(inputs, samples, mode='loss')
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses) or 'decode.pam_cam.loss_ce' in losses
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        preds = model(inputs, samples, mode='predict')
    assert preds[0].pred_sem_seg.data.shape == (1, 32, 64)


@functools.lru_cache(maxsize=1)
def _baseline():
    return Config.fromfile(str(BASELINE)).to_dict()


@pytest.mark.parametrize('path', BUNDLED, ids=_ids(BUNDLED))
def test_bundled_config_differs_from_the_fcn_baseline_only_in_the_head(path):
    """The later benchmark compares these runs: same backbone, auxiliary head, data,
    schedule, seed, and the same shared head settings."""
    ours = Config.fromfile(str(path)).to_dict()
    baseline = copy.deepcopy(_baseline())
    head, base_head = ours['model'].pop('decode_head'), baseline['model'].pop('decode_head')
    ours.pop('norm_cfg', None), baseline.pop('norm_cfg', None)
    assert ours == baseline
    shared = ('in_channels', 'in_index', 'channels', 'dropout_ratio', 'num_classes', 'norm_cfg',
              'align_corners', 'loss_decode')
    assert {k: head[k] for k in shared} == {k: base_head[k] for k in shared}
