"""attnplug.AttentionMapHook: registered in the attnplug hook registry, draws non-blank PNGs
through the runner's visualizer during a real val loop, and costs nothing on batches it
does not draw."""
import glob
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from attnplug.engine.hooks import AttentionMapHook
from attnplug.layers import CBAM, PositionAttention

_spec = importlib.util.spec_from_file_location('visualization_conftest',
                                               Path(__file__).with_name('conftest.py'))
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
png_is_not_blank = _conftest.png_is_not_blank
grid_panel_boxes = _conftest.grid_panel_boxes


def test_registered_under_attnplug_scope():
    from mmengine.registry import HOOKS as ROOT_HOOKS

    from attnplug.registry import HOOKS
    assert HOOKS.parent is ROOT_HOOKS and HOOKS.scope == 'attnplug'
    hook = ROOT_HOOKS.build(dict(type='attnplug.AttentionMapHook', modules=['CBAM'],
                                 query_points=[(0.25, 0.5)], max_images=2))
    assert isinstance(hook, AttentionMapHook) and hook.query_points == [(0.25, 0.5)]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='fractions'):
        AttentionMapHook(query_points=[(12, 40)])
    with pytest.raises(ValueError, match='interval'):
        AttentionMapHook(interval=0)
    with pytest.raises(ValueError, match='phases'):
        AttentionMapHook(phases=('train', ))


class _Preprocessor(nn.Module):
    """Like mmengine's ImgDataPreprocessor: BGR uint8 list -> normalised, padded RGB batch."""
    _channel_conversion = True

    def forward(self, data, training=False):
        imgs = [t[[2, 1, 0]].float() / 255 for t in data['inputs']]
        batch = torch.zeros(len(imgs), 3, 40, 64)  # pad to 40x64 (bottom/right)
        for i, t in enumerate(imgs):
            batch[i, :, :t.shape[1], :t.shape[2]] = t
        return {'inputs': batch, 'data_samples': data.get('data_samples')}


class _TinyModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.data_preprocessor = _Preprocessor()
        self.stem = nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.cbam = CBAM(8, reduction=2)
        self.pam = PositionAttention(8, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0, 0.5)

    def test_step(self, data):
        x = self.data_preprocessor(data)['inputs']
        return self.pam(self.cbam(self.stem(x)))


class _Visualizer:

    def __init__(self):
        self.images = {}

    def add_image(self, name, image, step=0):
        self.images[(name, step)] = image


def _batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    # 36x60 images (padded to 40x64 by the preprocessor): a bright left half, so the image
    # itself is not blank.
    imgs = []
    for _ in range(n):
        a = rng.integers(0, 120, (3, 36, 60), dtype=np.uint8)
        a[:, :, :30] += 120
        imgs.append(torch.from_numpy(a))
    return {'inputs': imgs, 'data_samples': None}


def test_fake_runner_draws_and_removes_hooks():
    model = _TinyModel().eval()
    runner = SimpleNamespace(model=model, visualizer=_Visualizer(), iter=7)
    hook = AttentionMapHook(modules=['CBAM', 'pam'], query_points=[(0.5, 0.5), (0.1, 0.9)],
                            interval=2, max_images=3)
    hook.before_val_epoch(runner)
    for batch_idx in range(4):
        data = _batch(seed=batch_idx)
        hook.before_val_iter(runner, batch_idx, data)
        # hooks only on drawn batches (0 and 2), never left behind
        assert bool(model.cbam._forward_hooks) == (batch_idx % 2 == 0)
        with torch.no_grad():
            model.test_step(data)
        hook.after_val_iter(runner, batch_idx, data, outputs=None)
        assert not any(m._forward_hooks for m in model.modules())
    # 2 images from batch 0, 1 from batch 2 (max_images=3)
    assert sorted(runner.visualizer.images) == [('attention_batch0_0', 7),
                                                ('attention_batch0_1', 7),
                                                ('attention_batch2_0', 7)]
    grid = runner.visualizer.images[('attention_batch0_0', 7)]
    # input + CBAM gate + two PAM query maps = 4 panels of 36x60 in one row
    assert grid.dtype == np.uint8 and grid.shape[1] > 4 * 60
    boxes = grid_panel_boxes(grid, (36, 60), ncols=4)
    assert len(boxes) == 4 and boxes[0][2] - boxes[0][0] == 36
    png_is_not_blank(grid, boxes[0], boxes[1:], alpha=0.5, marks=[(0.5, 0.5), (0.1, 0.9)],
                     mark_radius=8)


def test_runner_val_loop_writes_local_pngs(tiny_config, tiny_data, tmp_path):
    """A real mmengine Runner val loop on the tiny config: PNGs land in the LocalVisBackend
    directory and are not blank."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(tiny_config))
    cfg.work_dir = str(tmp_path)
    cfg.custom_hooks = [dict(type='attnplug.AttentionMapHook',
                             modules=['CBAM', 'PositionAttention'],
                             query_points=[(0.3, 0.6)], max_images=1)]
    cfg.visualizer = dict(type='SegLocalVisualizer', name='attn_hook_test_vis',
                          vis_backends=[dict(type='LocalVisBackend')])
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=False)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.val()
    pngs = sorted(glob.glob(str(tmp_path / '*' / 'vis_data' / 'vis_image' / 'attention_*.png')))
    assert len(pngs) == 1, pngs  # max_images=1 of the 2 val images
    assert 'leftImg8bit' in pngs[0]  # named after the image
    img = cv2.imread(pngs[0], cv2.IMREAD_COLOR)
    val = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))
    image_hw = cv2.imread(val[0]).shape[:2]  # the panels keep the images' aspect
    boxes = grid_panel_boxes(img, image_hw, ncols=4)
    # input + 4 CBAM gates (c4, c5: two blocks each) + 1 PAM query map
    assert len(boxes) == 6, boxes
    png_is_not_blank(pngs[0], boxes[0], boxes[1:], alpha=0.5, marks=[(0.3, 0.6)],
                     mark_radius=8)
    model = runner.model
    assert not any(m._forward_hooks for m in model.modules())


def test_runner_val_loop_writes_tensorboard_images(tiny_config, tiny_data, tmp_path):
    """With TensorboardVisBackend configured, the same grids reach a TensorBoard event file as
    image summaries of the input's size, readable by TensorBoard's own loader."""
    pytest.importorskip('tensorboard')
    from mmengine.config import Config
    from mmengine.runner import Runner
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = Config.fromfile(str(tiny_config))
    cfg.work_dir = str(tmp_path)
    cfg.custom_hooks = [dict(type='attnplug.AttentionMapHook', modules=['PositionAttention'],
                             query_points=[(0.5, 0.5)], max_images=2)]
    cfg.visualizer = dict(type='SegLocalVisualizer', name='attn_hook_tb_vis',
                          vis_backends=[dict(type='TensorboardVisBackend')])
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=False)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.val()
    events = glob.glob(str(tmp_path / '*' / 'vis_data' / 'events.out.tfevents.*'))
    assert events, f'no TensorBoard event file under {tmp_path}'
    acc = EventAccumulator(os.path.dirname(events[0]), size_guidance={'images': 0}).Reload()
    tags = [t for t in acc.Tags()['images'] if t.startswith('attention_')]
    assert len(tags) == 2 and all('leftImg8bit' in t for t in tags), acc.Tags()['images']
    image = acc.Images(tags[0])[0]
    # input + one PAM query map side by side, each at least the 64x128 val image
    assert image.width >= 2 * 128 and image.height >= 64, (image.width, image.height)
    decoded = cv2.imdecode(np.frombuffer(image.encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
    val = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))
    boxes = grid_panel_boxes(decoded, cv2.imread(val[0]).shape[:2], ncols=2)
    assert len(boxes) == 2, boxes
    png_is_not_blank(decoded, boxes[0], boxes[1:], alpha=0.5, marks=[(0.5, 0.5)], mark_radius=8)
