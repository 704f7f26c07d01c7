"""The bundled non-ResNet models with attention injected by attnplug.WithPlugins (a MiT SegFormer
and a CSPNeXt RTMDet) train and test end to end through the stock mmseg/mmdet tools.

Same set-up as tests/test_tools_e2e.py: a fresh interpreter per tool, in a scratch directory
whose ``data/`` holds a small generated copy of the bundled datasets; the project configs are
used unchanged, the schedule cut to 2 iterations through ``--cfg-options``.
"""
import glob
import json
import os.path as osp

import pytest
import torch

import attnplug  # noqa: F401  (safe globals: the checkpoints load with weights_only=True)
from attnplug.testing import stock_tool

pytestmark = pytest.mark.e2e

SEG_CFG = 'configs/with_plugins/segformer_mit-w16-cbam_1xb4-300iter_cityscapes-bundled-128x256.py'
DET_CFG = 'configs/with_plugins/rtmdet_cspnext-w16-cbam-c3-c5_300iter_coco-bundled.py'
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
OPTS = [f'{d}.num_workers=0' for d in _LOADERS] + \
    [f'{d}.persistent_workers=False' for d in _LOADERS] + [
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=100']  # no validation inside training: test.py evaluates



def _state(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.mark.parametrize('package,cfg,metric,sites', [
    ('mmseg', SEG_CFG, 'mIoU', 6),          # MiT-B0 depth: 2 blocks in each of stages 2-4
    ('mmdet', DET_CFG, 'coco/bbox_mAP', 3),  # CSPNeXt stage2..stage4
], ids=['segformer-mit', 'rtmdet-cspnext'])
def test_stock_tools_train_test_with_plugins(python_runner, workspace, repo_root, package, cfg,
                                             metric, sites):
    work = workspace / package
    out = python_runner([stock_tool(package, 'train'), repo_root / cfg, '--work-dir', work,
                         '--cfg-options', *OPTS], cwd=workspace)
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log, log[-3000:]
    # WithPlugins' init_weights ran inside the runner and initialised the plugins itself
    assert 'attnplug.WithPlugins:' in log and 'initialised by the plugins themselves' in log
    first, second = _state(work / 'iter_1.pth'), _state(work / 'iter_2.pth')
    keys = [k for k in second['state_dict'] if '.attnplug_plugins.' in k]
    # one CBAM per matched path
    assert len({k.split('.attnplug_plugins.')[1].rsplit('.cbam.', 1)[0] for k in keys}) == sites
    # the plugins are trained: their weights move between iterations 1 and 2
    assert any(not torch.equal(first['state_dict'][k], second['state_dict'][k]) for k in keys)
    if package == 'mmdet':  # the EMA hook deep-copies the model: its copy has the plugins too
        assert any('.attnplug_plugins.' in k for k in second['ema_state_dict'])
    test_dir = work / 'test'
    python_runner([stock_tool(package, 'test'), repo_root / cfg, work / 'iter_2.pth',
                   '--work-dir', test_dir, '--cfg-options', *OPTS], cwd=workspace)
    paths = sorted(glob.glob(osp.join(test_dir, '2*', '2*.json')))
    assert paths, f'no metrics json under {test_dir}'
    with open(paths[-1]) as f:
        metrics = json.load(f)
    assert metric in metrics, metrics
