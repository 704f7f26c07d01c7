"""A tiny segmentor config (ResNet-18-D8 at 1/8 width with CBAM plugins and DANet's head) on a
two-image bundled Cityscapes, shared by the hook and tool tests."""
import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _colour_layer_spread(img, input_box, map_box, alpha, marks, mark_radius):
    """How much the colour a map panel lays over the image varies, in grey levels.

    A map panel is ``alpha * colours + (1 - alpha) * image`` and the input panel shows the same
    image, so ``(map - (1 - alpha) * input) / alpha`` recovers the colour layer. A blank map (a
    constant, or no overlay at all) leaves a constant layer. The layer is smoothed (Gaussian,
    9×9) first, so that resampling noise along the image's edges in a matplotlib panel does not
    count (a blank map measured 1-3 grey levels after smoothing, real maps 65-97). The query
    markers, drawn on the input and on query maps, are masked out.
    """
    import cv2

    def crop(box):
        y0, x0, y1, x1 = box
        return img[y0 + 2:y1 - 2, x0 + 2:x1 - 2].astype(np.float64)

    panel, base = crop(map_box), crop(input_box)
    if base.shape != panel.shape:
        base = cv2.resize(base, (panel.shape[1], panel.shape[0]), interpolation=cv2.INTER_AREA)
    colour = cv2.GaussianBlur((panel - (1 - alpha) * base) / alpha, (9, 9), 0)
    keep = np.ones(panel.shape[:2], bool)
    for fx, fy in marks:
        cy, cx = int(fy * panel.shape[0]), int(fx * panel.shape[1])
        keep[max(cy - mark_radius, 0):cy + mark_radius + 1,
             max(cx - mark_radius, 0):cx + mark_radius + 1] = False
    return float(colour[keep].std(axis=0).max())


def png_is_not_blank(path, input_box, map_boxes, alpha, marks=(), mark_radius=14,
                     min_spread=20.0) -> None:
    """Assert an attention figure exists, is not blank as a whole, and that every attention-map
    panel carries a non-constant map of its own.

    Args:
        path (str | ndarray): The PNG, or the RGB/BGR image itself.
        input_box (tuple): ``(y0, x0, y1, x1)`` of the input-image panel.
        map_boxes (list[tuple]): The boxes of the map panels (at least one).
        alpha (float): The weight of the colour map over the image.
        marks (list[tuple]): Query points, (x, y) fractions of a panel, masked out.
    """
    import cv2

    if isinstance(path, np.ndarray):
        img, name = path, 'image'
    else:
        assert Path(path).is_file(), f'{path} was not written'
        img, name = cv2.imread(str(path), cv2.IMREAD_COLOR), path
    assert img is not None and img.size > 0, f'{name} is not a readable image'
    assert float(img.std()) > 10.0, f'{name} is nearly uniform (std {img.std():.2f})'
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f'{name} has only {len(colours)} distinct colours'
    assert map_boxes, f'{name}: no attention-map panel to check'
    for i, box in enumerate(map_boxes):
        spread = _colour_layer_spread(img, input_box, box, alpha, marks, mark_radius)
        assert spread > min_spread, (
            f'{name}: map panel {i} at {box} is blank: the colour it lays over the image '
            f'varies by {spread:.2f} grey levels (at most {min_spread})')


def grid_panel_boxes(img, image_hw, ncols=4, title_lines=2):
    """The panel boxes of a :func:`attnplug.visualization.overlay.compose_grid` image whose panels
    have the aspect of an ``image_hw`` image: the layout is solved from the grid's width and
    checked against its height; empty (white) cells are dropped."""
    from attnplug.visualization.overlay import grid_boxes

    pad = 4
    pw = (img.shape[1] - pad) // ncols - pad
    ph = int(round(pw * image_hw[0] / image_hw[1]))
    _, first_row = grid_boxes((ph, pw), ncols, ncols, title_lines)
    cell_h = first_row[0][2]  # pad + title strip + panel = one row of cells
    nrows = (img.shape[0] - pad) // cell_h
    (height, width), boxes = grid_boxes((ph, pw), nrows * ncols, ncols, title_lines)
    assert (height, width) == img.shape[:2], (
        f'grid {img.shape[:2]} does not have the layout of {nrows}x{ncols} panels of {ph}x{pw}')
    return [b for b in boxes if (img[b[0]:b[2], b[1]:b[3]] != 255).any()]


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    spec = importlib.util.spec_from_file_location('attnplug_data_generate',
                                                  ROOT / 'data' / 'generate.py')
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    root = tmp_path_factory.mktemp('data')
    gen.generate(str(root), datasets=('cityscapes', ), num_train=2, num_val=2, seed=0)
    return root


@pytest.fixture(scope='session')
def tiny_config(tiny_data, tmp_path_factory):
    base = ROOT / 'configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
    path = tmp_path_factory.mktemp('cfg') / 'tiny_danet_cbam.py'
    path.write_text(textwrap.dedent(f"""
        _base_ = ['{base}']
        data_root = '{tiny_data}/cityscapes/'
        model = dict(
            backbone=dict(
                type='attnplug.ResNetV1c', stem_channels=8, base_channels=8,
                plugins=[dict(cfg=dict(type='attnplug.CBAM', reduction=4),
                              position='after_conv2', stages=(False, False, True, True))]),
            decode_head=dict(in_channels=64, channels=16, pam_channels=4),
            auxiliary_head=dict(in_channels=32, channels=8))
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root=data_root))
        val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        """))
    return path


@pytest.fixture(scope='session')
def tiny_checkpoint(tiny_config, tmp_path_factory):
    """A checkpoint of the tiny model with trained-looking (random, non-identity) weights,
    saved like mmengine saves them (meta, state_dict, message_hub with HistoryBuffers)."""
    import torch
    from mmengine.logging import MessageHub
    from mmengine.runner import save_checkpoint

    from attnplug.analysis.build import build_model, load_config

    from mmengine.registry import DefaultScope

    # build_model sets the config's default scope; leave the session's scope as it was.
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = build_model(load_config(str(tiny_config)))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('gamma.scale'):
                p.fill_(0.5)  # DANet's alpha/beta start at 0
            elif p.dim() > 1:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    hub = MessageHub.get_instance('attnplug_tiny_ckpt')
    hub.update_scalar('train/loss', 1.0)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    save_checkpoint({'meta': {'iter': 1},
                     'state_dict': model.state_dict(),
                     'message_hub': hub.state_dict()}, str(path))
    return path
