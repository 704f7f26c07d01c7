"""Every detection config of the plugin backbones loads, builds offline, and holds the plugins
its name promises.

Names follow mmdet's scheme ``{algorithm}_{backbone}-{attn}-{stages}_{neck}_{schedule}_{dataset}``
(e.g. ``faster-rcnn_r50-se-c3-c5_fpn_1x_coco.py``), so the expected plugins are read from the
name: the attention tag gives the type and where it sits, ``cA-cB`` the stages. Full-size models
are built on the meta device (every module constructed, no memory, no forward);
tests/detection/test_det_plugins.py runs them shrunk.
"""
import copy
import functools
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'

#: attention tag in a config name -> (class name, where it sits in a Bottleneck / a BasicBlock)
TAGS = {
    'se': ('SqueezeExcitation', 'after_conv3', 'after_conv2'),
    'eca': ('ECA', 'after_conv3', 'after_conv2'),
    'cbam': ('CBAM', 'after_conv3', 'after_conv2'),
    'ca': ('CoordAttention', 'after_conv2', 'after_conv2'),
    'nl': ('NonLocal2d', 'after_conv2', 'after_conv2'),
    'mhsa': ('MultiHeadSelfAttention2d', 'after_conv2', 'after_conv2'),
    'cca': ('CrissCrossAttention', 'after_stage', 'after_stage'),
    'pam': ('PositionAttention', 'after_stage', 'after_stage'),
    'bam': ('BAM', 'after_stage', 'after_stage'),
    'sk': ('SKConv', 'dcn', None),
}
#: folder of each tag (one folder per method, shared with the segmentation configs)
FOLDERS = {
    'se': 'se', 'eca': 'eca', 'cbam': 'cbam', 'ca': 'coord_attention', 'nl': 'nonlocal_net',
    'mhsa': 'mhsa', 'cca': 'ccnet', 'pam': 'danet', 'bam': 'bam', 'sk': 'sknet'
}
BLOCKS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}
NAME = re.compile(r'^(?P<algo>faster-rcnn|retinanet|mask-rcnn)_r(?P<depth>18|50)'
                  r'(?P<syncbn>-syncbn)?-(?P<tag>[a-z]+)-c(?P<first>\d)(?:-c(?P<last>\d))?'
                  r'_fpn_(?P<schedule>1x|300iter)_(?P<dataset>coco|voc0712|coco-bundled|'
                  r'voc0712-bundled)\.py$')


def _plugin_configs():
    found = []
    for folder in sorted(set(FOLDERS.values())):
        for path in sorted((CONFIGS / folder).glob('*.py')):
            if NAME.match(path.name):
                found.append(path)
    return found


PLUGIN_CONFIGS = _plugin_configs()
BASELINES = [
    CONFIGS / 'faster_rcnn' / 'faster-rcnn_r18_fpn_300iter_coco-bundled.py',
    CONFIGS / 'faster_rcnn' / 'faster-rcnn_r18_fpn_300iter_voc0712-bundled.py',
]


def _ids(paths):
    return [str(p.relative_to(CONFIGS)) for p in paths]


def build_detector(cfg, device='cpu'):
    """Build with mmdet's registry; on the meta device a full-size model costs no time
    (structure only)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'), torch.device(device):
        return MODELS.build(cfg.model)


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(str(path))


def load(path):
    """The parsed config (parsed once per session: mmdet:: bases cost ~0.3-1 s each)."""
    return copy.deepcopy(_parsed(path))


def load_offline(path):
    cfg = load(path)
    cfg.model.backbone.init_cfg = None  # the bases name torchvision:// checkpoints
    return cfg


def test_the_issue_is_covered():
    """Each method on Faster R-CNN, RetinaNet and Mask R-CNN (COCO) and on Faster R-CNN and
    RetinaNet (VOC 07+12; mmdet has no VOC Mask R-CNN), R-18 versions where BasicBlock takes
    the plugin, and bundled-data versions."""
    names = {p.name for p in PLUGIN_CONFIGS}
    for tag in TAGS:
        matching = [NAME.match(n) for n in names if NAME.match(n)['tag'] == tag]
        combos = {(m['algo'], m['depth'], m['dataset']) for m in matching}
        for algo in ('faster-rcnn', 'retinanet', 'mask-rcnn'):
            assert (algo, '50', 'coco') in combos, (tag, algo)
        for algo in ('faster-rcnn', 'retinanet'):
            assert (algo, '50', 'voc0712') in combos, (tag, algo)
        if TAGS[tag][2] is not None:  # BasicBlock takes it
            assert ('retinanet', '18', 'coco') in combos, tag
            assert ('faster-rcnn', '18', 'coco-bundled') in combos, tag
    assert 'faster-rcnn_r18-se-c2-c5_fpn_300iter_voc0712-bundled.py' in names
    assert len(PLUGIN_CONFIGS) == 69


@pytest.mark.parametrize('path', PLUGIN_CONFIGS, ids=_ids(PLUGIN_CONFIGS))
def test_config_is_a_short_delta_in_its_folder(path):
    m = NAME.match(path.name)
    assert path.parent.name == FOLDERS[m['tag']]
    code = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith('#')]
    assert len(code) <= 10, f'{path.name}: {len(code)} lines of code; a config is a short delta'
    cfg = load(path)
    assert cfg.model.backbone.type == 'attnplug.DetResNet'
    if m['schedule'] == '1x':
        # mmdet's recipe is kept: its pretrained weights, frozen c2 and (except SK) frozen BN
        assert cfg.model.backbone.init_cfg.checkpoint == f"torchvision://resnet{m['depth']}"
        assert cfg.model.backbone.frozen_stages == 1
        assert cfg.model.backbone.norm_eval is (m['syncbn'] is None)
        # a plugin in the frozen c2 would keep its random initialisation
        assert int(m['first']) >= 3 or m['tag'] == 'sk'
    assert cfg.default_scope == 'mmdet'


def _expected_stages(m):
    first = int(m['first']) - 2
    last = int(m['last'] or m['first']) - 2
    return set(range(first, last + 1))


@pytest.mark.parametrize('path', PLUGIN_CONFIGS, ids=_ids(PLUGIN_CONFIGS))
def test_config_builds_with_the_plugins_its_name_says(path):
    m = NAME.match(path.name)
    cls_name, bottleneck_pos, basic_pos = TAGS[m['tag']]
    depth = int(m['depth'])
    model = build_detector(load_offline(path), device='meta')
    backbone = model.backbone
    assert type(backbone).__name__ == 'DetResNet' and backbone.depth == depth
    stages = _expected_stages(m)
    if m['tag'] == 'sk':
        for i, layer in enumerate(backbone.res_layers):
            kinds = {type(block.conv2).__name__ for block in getattr(backbone, layer)}
            assert kinds == ({'SKConv'} if i in stages else {'Conv2d'}), (i, kinds)
        assert not list(backbone.named_plugins())
        return
    position = bottleneck_pos if depth == 50 else basic_pos
    records = list(backbone.named_plugins())
    assert records, 'no plugins built'
    assert {type(r.module).__name__ for r in records} == {cls_name}
    assert {r.position for r in records} == {position}
    assert {r.stage for r in records} == stages
    if position == 'after_stage':
        assert len(records) == len(stages)
    else:
        assert len(records) == sum(BLOCKS[depth][i] for i in stages)


@pytest.mark.parametrize('path', BASELINES, ids=_ids(BASELINES))
def test_bundled_baselines_build(path):
    cfg = load(path)
    model = build_detector(cfg)
    assert model.backbone.depth == 18 and not model.backbone.plugins
    if 'voc0712' in path.name:
        assert model.roi_head.bbox_head.num_classes == 20
        assert cfg.val_evaluator.type == 'VOCMetric'
        assert cfg.train_dataloader.dataset.dataset.datasets[0].type == 'VOCDataset'
    else:
        assert cfg.val_evaluator.type == 'CocoMetric'


def test_method_readmes_list_their_detection_configs():
    """Each method folder's README names every detection config in it, with a Citation."""
    for tag, folder in FOLDERS.items():
        readme = CONFIGS / folder / 'README.md'
        assert readme.is_file(), readme
        text = readme.read_text()
        assert 'Citation' in text and 'not trained here' in text, folder
        for path in PLUGIN_CONFIGS:
            if path.parent.name == folder:
                assert path.name in text, f'{folder}/README.md does not list {path.name}'
