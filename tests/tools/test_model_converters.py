"""tools/model_converters/<name>2attnplug.py against the authors' backbones.

Each golden record (tests/golden/authors/backbones/<name>.pt, made by
benchmarks/golden/make_<name>_backbone.py from the authors' code at a named commit) holds the
key names and shapes of the authors' ImageNet model, the seed of its weights, one input and the
authors' stage outputs. A test writes those weights in the layout the authors released (with
DataParallel's ``module.`` prefix where their training script saved one), runs the converter's
command line on it, builds the backbone the converter names, and compares its stage outputs
with the authors' (fp32). It then builds the backbone of the config that ships for the
converted file, through the framework's registry with ``init_cfg=dict(type='Pretrained')``, and
checks that ``init_weights()`` loads every converted tensor.
"""
import copy
from pathlib import Path

import pytest
import torch

from attnplug.converters import ConversionError, build_backbone, check_against
from attnplug.testing import golden_state_dict, load_golden, repo_script

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / 'tests' / 'golden' / 'authors' / 'backbones'

# name: (how the authors' checkpoints are saved, the config that loads the converted file,
#        backbone overrides that return every stage the record holds)
CONVERTERS = {
    'cbam': ('dataparallel', 'configs/cbam/faster-rcnn_r50-cbam-in1k-pre_fpn_1x_coco.py', {}),
    'bam': ('dataparallel', 'configs/bam/faster-rcnn_r50-bam-in1k-pre_fpn_1x_coco.py', {}),
    'sk': ('dataparallel', 'configs/sknet/faster-rcnn_r50-sk-in1k-pre_fpn_1x_coco.py', {}),
    'eca': ('dataparallel', 'configs/eca/faster-rcnn_r50-eca-in1k-pre_fpn_1x_coco.py', {}),
    'se': ('plain', 'configs/se/faster-rcnn_r50-se-in1k-pre_fpn_1x_coco.py', {}),
    'simam': ('dataparallel', 'configs/simam/faster-rcnn_r50-simam-in1k-pre_fpn_1x_coco.py', {}),
    'coordatt': ('plain', 'configs/coord_attention/'
                 'mobilenet-v2-ca-in1k-pre-d8_deeplabv3_4xb2-80k_cityscapes-512x1024.py',
                 dict(out_indices=(0, 1, 2, 3, 4, 5, 6))),
}
NAMES = list(CONVERTERS)


def tolerance(reference: torch.Tensor) -> float:
    """fp32: 1e-5 of the feature's scale (features of a 50-layer net at random weights reach
    a few tens)."""
    return 1e-5 * max(1.0, reference.abs().max().item())


def released_checkpoint(state_dict: dict, layout: str) -> dict:
    if layout == 'dataparallel':  # {'state_dict': nn.DataParallel(model).state_dict(), ...}
        return dict(epoch=90, arch='resnet', best_prec1=77.0,
                    state_dict={f'module.{k}': v for k, v in state_dict.items()})
    return dict(state_dict)


@pytest.fixture(scope='module', params=NAMES)
def converted(request, tmp_path_factory, python_runner):
    name = request.param
    record = load_golden(GOLDEN / f'{name}.pt')
    tmp = tmp_path_factory.mktemp(name)
    src, dst = tmp / f'{name}-authors.pth', tmp / f'{name}-attnplug.pth'
    torch.save(released_checkpoint(golden_state_dict(record), CONVERTERS[name][0]), src)
    proc = python_runner([f'tools/model_converters/{name}2attnplug.py', src, dst], cwd=ROOT)
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    return name, record, checkpoint, dst, proc.stdout


def stage_outputs(backbone, record):
    backbone.eval()
    with torch.no_grad():
        return backbone(record['inputs'][0])


def assert_features_equal(outs, record, where):
    expected = record['features']['eval']
    assert len(outs) == len(expected), f'{where}: {len(outs)} stages, the authors\' {len(expected)}'
    for i, (out, ref) in enumerate(zip(outs, expected)):
        assert out.shape == ref.shape, (
            f'{where}: stage {i} {tuple(out.shape)} vs {tuple(ref.shape)}')
        diff = (out - ref).abs().max().item()
        assert diff <= tolerance(ref), f'{where}: stage {i} differs by {diff:.3g}'


def test_converted_backbone_equals_authors(converted):
    name, record, checkpoint, _, stdout = converted
    assert 'dropped fc.weight' in stdout or 'dropped last_linear.weight' in stdout \
        or 'dropped classifier.1.weight' in stdout, stdout
    cfg = dict(checkpoint['meta']['backbone'], **CONVERTERS[name][2])
    backbone = build_backbone(cfg)
    backbone.load_state_dict(checkpoint['state_dict'], strict=True)
    assert_features_equal(stage_outputs(backbone, record), record, f'{name}2attnplug')

    # The comparison can fail: bend the largest attention weight, or any weight.
    sd = checkpoint['state_dict']
    attn = [k for k in sd if any(a in k for a in ('.eca.', '.se.', 'coord_att', '.cbam.', '.bam.',
                                                  'branches.1', 'fc_select'))]
    key = max(attn or [k for k in sd if sd[k].is_floating_point()], key=lambda k: sd[k].numel())
    bent = dict(sd)
    bent[key] = sd[key] + 0.5 + sd[key].abs()
    backbone.load_state_dict(bent, strict=True)
    outs = stage_outputs(backbone, record)
    worst = max((o - r).abs().max().item() for o, r in zip(outs, record['features']['eval']))
    assert worst > 100 * tolerance(record['outputs']['eval']), (
        f'{name}2attnplug: bending {key} left the features within tolerance')


def build_from_config(config: str, checkpoint: Path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(str(ROOT / config))
    scope = cfg.get('default_scope', 'mmdet' if 'mmdet' in cfg.filename else 'mmseg')
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    assert backbone_cfg.init_cfg['type'] == 'Pretrained', f'{config}: no Pretrained init_cfg'
    backbone_cfg.init_cfg['checkpoint'] = str(checkpoint)
    if hasattr(backbone_cfg, 'norm_cfg') and backbone_cfg.norm_cfg.get('type') == 'SyncBN':
        backbone_cfg.norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process
    return MODELS.build(backbone_cfg), cfg


def test_config_loads_converted_checkpoint(converted):
    name, record, checkpoint, dst, _ = converted
    backbone, cfg = build_from_config(CONVERTERS[name][1], dst)
    if cfg.model.get('pretrained') is not None:
        pytest.fail(f'{cfg.filename}: model.pretrained={cfg.model.pretrained} would override the '
                    'backbone init_cfg')
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    backbone.init_weights()
    after = backbone.state_dict()
    loaded = checkpoint['state_dict']
    assert set(after) == set(loaded), (
        f'{cfg.filename}: backbone keys differ from the converted file: '
        f'{sorted(set(after) ^ set(loaded))[:8]}')
    changed = [k for k in loaded if k.endswith('weight') and not torch.equal(before[k], loaded[k])]
    assert changed, 'the converted weights equal the fresh ones: the check cannot fail'
    for k, v in loaded.items():
        assert torch.equal(after[k], v), f'{cfg.filename}: init_weights() did not load {k}'
    # Where the config keeps the authors' strides (the detection configs), its backbone
    # computes the authors' features.
    if name != 'coordatt':
        assert_features_equal(stage_outputs(backbone, record), record, cfg.filename)


@pytest.mark.parametrize('name', NAMES)
def test_converter_refuses_unknown_and_missing_keys(name):
    converter = repo_script(f'tools/model_converters/{name}2attnplug.py')
    source = golden_state_dict(load_golden(GOLDEN / f'{name}.pt'))
    state_dict, dropped, cfg = converter.convert(source)
    backbone = build_backbone(cfg)
    check_against(state_dict, backbone, name)  # the complete conversion fits

    extra = dict(source, **{'layer2.0.extra_attention.weight': torch.zeros(3)})
    with pytest.raises(ConversionError, match='extra_attention'):
        converter.convert(extra)
    victim = next(k for k in state_dict if k.endswith('weight') and 'conv' in k)
    incomplete = {k: v for k, v in state_dict.items() if k != victim}
    with pytest.raises(ConversionError, match='missing'):
        check_against(incomplete, backbone, name)
    wrong = dict(state_dict, **{victim: state_dict[victim][..., :1]})
    with pytest.raises(ConversionError, match='shape'):
        check_against(wrong, backbone, name)


@pytest.mark.parametrize('converted', ['se'], indirect=True)
def test_se_released_stem_pooling_gives_other_stage_sizes(converted):
    name, record, checkpoint, _, _ = converted
    # The converted backbone equals the authors' SE-ResNet with mmcv's stem pooling (above);
    # with the released ceil-mode pooling the stage outputs have other sizes.
    released = record['features_as_released']['eval']
    converted_shapes = [tuple(f.shape) for f in record['features']['eval']]
    assert [tuple(f.shape) for f in released] != converted_shapes


@pytest.mark.parametrize('converted', ['coordatt'], indirect=True)
def test_with_plugins_refuses_plugin_keys_that_do_not_fit(converted):
    """A Pretrained checkpoint with plugin keys loads all of them into WithPlugins' plugins, or
    fails naming the ones that do not fit."""
    name, _, checkpoint, dst, _ = converted
    sd = dict(checkpoint['state_dict'])
    key = next(k for k in sd if k.startswith('attnplug_plugins.'))
    sd[key.replace('coord_att', 'coord_att_2')] = sd.pop(key)
    bad = dst.parent / 'renamed-plugin-key.pth'
    torch.save(dict(state_dict=sd), bad)
    backbone, _ = build_from_config(CONVERTERS[name][1], bad)
    with pytest.raises(ValueError, match='coord_att_2'):
        backbone.init_weights()
