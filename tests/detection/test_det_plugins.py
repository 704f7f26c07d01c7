"""The shipped detection configs, shrunk, train and predict: a loss and a backward through every
plugin placement, in a Faster R-CNN with a Bottleneck (R-50) and a BasicBlock (R-18) backbone,
plus RetinaNet and Mask R-CNN; and a plugin that does not fit fails when the detector is built.

Shrinking keeps each config's plugins, positions, stages and frozen stages; only the widths
change (``base_channels=8``), as a user would with ``--cfg-options``. Inputs are 2 images of
odd sizes near 64x96.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'

R50_FASTER = [
    'se/faster-rcnn_r50-se-c3-c5_fpn_1x_coco.py',
    'eca/faster-rcnn_r50-eca-c3-c5_fpn_1x_coco.py',
    'cbam/faster-rcnn_r50-cbam-c3-c5_fpn_1x_coco.py',
    'coord_attention/faster-rcnn_r50-ca-c3-c5_fpn_1x_coco.py',
    'sknet/faster-rcnn_r50-syncbn-sk-c3-c5_fpn_1x_coco.py',
    'nonlocal_net/faster-rcnn_r50-nl-c4-c5_fpn_1x_coco.py',
    'mhsa/faster-rcnn_r50-mhsa-c4-c5_fpn_1x_coco.py',
    'ccnet/faster-rcnn_r50-cca-c5_fpn_1x_coco.py',
    'danet/faster-rcnn_r50-pam-c5_fpn_1x_coco.py',
    'bam/faster-rcnn_r50-bam-c3-c4_fpn_1x_coco.py',
]
R18_BUNDLED = [
    'se/faster-rcnn_r18-se-c2-c5_fpn_300iter_coco-bundled.py',
    'eca/faster-rcnn_r18-eca-c2-c5_fpn_300iter_coco-bundled.py',
    'cbam/faster-rcnn_r18-cbam-c2-c5_fpn_300iter_coco-bundled.py',
    'coord_attention/faster-rcnn_r18-ca-c2-c5_fpn_300iter_coco-bundled.py',
    'nonlocal_net/faster-rcnn_r18-nl-c4-c5_fpn_300iter_coco-bundled.py',
    'mhsa/faster-rcnn_r18-mhsa-c4-c5_fpn_300iter_coco-bundled.py',
    'ccnet/faster-rcnn_r18-cca-c5_fpn_300iter_coco-bundled.py',
    'danet/faster-rcnn_r18-pam-c5_fpn_300iter_coco-bundled.py',
    'bam/faster-rcnn_r18-bam-c2-c4_fpn_300iter_coco-bundled.py',
    'se/faster-rcnn_r18-se-c2-c5_fpn_300iter_voc0712-bundled.py',
]
WIDTH = 16  # FPN and head channels of the shrunk detectors


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny models gain nothing from threads; on a shared 2-core machine two threads per test
    made a step 10-40x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _registry():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MODELS


def shrink(cfg):
    """The config's detector at ``base_channels=8``, offline, with BN for SyncBN (one process)."""
    model = cfg.model
    bb = model.backbone
    bb.base_channels = 8
    bb.init_cfg = None
    # Stands in for pretrained weights: from scratch mmdet zeroes the last BN of every block,
    # and a plugin after it (after_conv3) would see zeros and get no gradient.
    bb.zero_init_residual = False
    if bb.get('norm_cfg', {}).get('type') == 'SyncBN':
        bb.norm_cfg = dict(type='BN', requires_grad=True)
    if bb.get('dcn') is not None:
        bb.dcn.groups = 4  # 32 groups do not divide the shrunk stages (16 channels and up)
    expansion = 4 if bb.depth == 50 else 1
    model.neck.in_channels = [8 * 2**i * expansion for i in range(4)]
    model.neck.out_channels = WIDTH
    if 'rpn_head' in model:  # two-stage
        model.rpn_head.in_channels = model.rpn_head.feat_channels = WIDTH
        roi = model.roi_head
        roi.bbox_roi_extractor.out_channels = WIDTH
        roi.bbox_head.in_channels, roi.bbox_head.fc_out_channels = WIDTH, 32
        if 'mask_head' in roi:
            roi.mask_roi_extractor.out_channels = WIDTH
            roi.mask_head.in_channels = roi.mask_head.conv_out_channels = WIDTH
        model.test_cfg.rcnn.score_thr = 0.0  # untrained: keep whatever it outputs
    else:
        model.bbox_head.in_channels = model.bbox_head.feat_channels = WIDTH
        model.test_cfg.score_thr = 0.0
    return cfg


def build(rel_path):
    cfg = shrink(Config.fromfile(str(CONFIGS / rel_path)))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = _registry().build(cfg.model)
    model.init_weights()
    return model


def fake_batch(model, with_mask=False, seed=0):
    """Two images (odd sizes) with two boxes each, through the model's data preprocessor."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    images, samples = [], []
    for h, w in ((61, 93), (67, 89)):
        images.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.)))
        inst = InstanceData()
        inst.bboxes = torch.tensor([[4., 6., 40., 50.], [30., 10., 80., 44.]])
        inst.labels = torch.tensor([0, 2])
        if with_mask:
            masks = torch.zeros(2, h, w, dtype=torch.uint8)
            masks[0, 6:50, 4:40] = 1
            masks[1, 10:44, 30:80] = 1
            inst.masks = BitmapMasks(masks.numpy(), h, w)
        sample.gt_instances = inst
        samples.append(sample)
    return model.data_preprocessor({'inputs': images, 'data_samples': samples}, True)


def _plugin_modules(model):
    backbone = model.backbone
    mods = [r.module for r in backbone.named_plugins()]
    if backbone.dcn is not None:
        mods += [b.conv2 for layer in backbone.res_layers for b in getattr(backbone, layer)
                 if type(b.conv2).__name__ == 'SKConv']
    return mods


def train_and_predict(model, with_mask=False):
    """loss + backward: finite losses, gradients in every trainable plugin; then predict."""
    model.train()
    data = fake_batch(model, with_mask)
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total), losses
    total.backward()
    plugins = _plugin_modules(model)
    assert plugins, 'the config built no plugin'
    for module in plugins:
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            continue  # in a frozen stage
        assert all(p.grad is not None for p in params), type(module).__name__
        assert any(p.grad.abs().sum() > 0 for p in params), type(module).__name__
    model.eval()
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2
    for r in results:
        assert r.pred_instances.bboxes.shape[1] == 4
        assert torch.isfinite(r.pred_instances.bboxes).all()
    return losses


@pytest.mark.parametrize('rel_path', R50_FASTER)
def test_faster_rcnn_r50_each_placement(rel_path):
    """Bottleneck placements: after_conv3 (SE, ECA, CBAM), after_conv2 (CA, NL, MHSA), the dcn
    slot (SK), after_stage (BAM between stages, CCA and PAM on c5)."""
    model = build(rel_path)
    losses = train_and_predict(model)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox'} <= set(losses)


@pytest.mark.parametrize('rel_path', R18_BUNDLED)
def test_faster_rcnn_r18_each_placement(rel_path):
    """BasicBlock placements (after_conv2, after_stage) in the bundled-data configs."""
    model = build(rel_path)
    assert model.backbone.depth == 18
    train_and_predict(model)


def test_retinanet_with_plugins():
    model = build('cbam/retinanet_r50-cbam-c3-c5_fpn_1x_coco.py')
    losses = train_and_predict(model)
    assert {'loss_cls', 'loss_bbox'} <= set(losses)


def test_retinanet_r18_with_plugins():
    model = build('se/retinanet_r18-se-c3-c5_fpn_1x_coco.py')
    train_and_predict(model)


def test_mask_rcnn_with_plugins():
    model = build('coord_attention/mask-rcnn_r50-ca-c3-c5_fpn_1x_coco.py')
    losses = train_and_predict(model, with_mask=True)
    assert 'loss_mask' in losses


def test_frozen_c2_stays_frozen_and_plugins_train():
    """mmdet's recipe freezes c2 (frozen_stages=1); the c3-c5 plugins of the full configs are
    outside it, so all of them train."""
    model = build('se/faster-rcnn_r50-se-c3-c5_fpn_1x_coco.py')
    model.train()
    assert all(not p.requires_grad for p in model.backbone.layer1.parameters())
    for rec in model.backbone.named_plugins():
        assert rec.stage >= 1
        assert all(p.requires_grad for p in rec.module.parameters())


# ------------------------------------------------------------------ bad plugins, at build time
def _full_config(rel_path):
    cfg = Config.fromfile(str(CONFIGS / rel_path))
    cfg.model.backbone.init_cfg = None
    return cfg


def _build_full(cfg):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return _registry().build(cfg.model)


def test_plugin_channels_that_do_not_fit_fail_when_the_detector_is_built():
    cfg = _full_config('se/faster-rcnn_r50-se-c3-c5_fpn_1x_coco.py')
    cfg.model.backbone.plugins[0]['cfg']['in_channels'] = 256  # c2's width, not c3's (512)
    with pytest.raises(ValueError) as err:
        _build_full(cfg)
    msg = str(err.value)
    assert 'stage 1 (layer2' in msg and "'after_conv3'" in msg
    assert 'in_channels=256' in msg and '512' in msg


def test_bottleneck_position_in_a_basicblock_detector_fails_with_the_valid_positions():
    cfg = _full_config('se/retinanet_r18-se-c3-c5_fpn_1x_coco.py')
    cfg.model.backbone.plugins[0]['position'] = 'after_conv3'
    with pytest.raises(ValueError, match="'after_conv3'.*Valid positions: 'after_conv1', "
                       "'after_conv2', 'after_stage'"):
        _build_full(cfg)


def test_stages_of_the_wrong_length_fail():
    cfg = _full_config('nonlocal_net/faster-rcnn_r50-nl-c4-c5_fpn_1x_coco.py')
    cfg.model.backbone.plugins[0]['stages'] = (False, True, True)
    with pytest.raises(ValueError, match='stages'):
        _build_full(cfg)
