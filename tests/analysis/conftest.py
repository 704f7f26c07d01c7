"""A tiny segmentor config (ResNet-18-D8 at 1/8 width with CBAM plugins and DANet's head) on a
two-image bundled Cityscapes, shared by the hook and tool tests."""
import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def png_is_not_blank(path) -> None:
    """Assert a PNG exists, has pixel variance and many distinct colours."""
    import cv2

    assert Path(path).is_file(), f'{path} was not written'
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None and img.size > 0, f'{path} is not a readable image'
    assert float(img.std()) > 10.0, f'{path} is nearly uniform (std {img.std():.2f})'
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f'{path} has only {len(colours)} distinct colours'


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
