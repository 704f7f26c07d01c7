"""End to end through the stock OpenMMLab tools and attnplug's tools, on the bundled data.

Every run is a fresh interpreter in a scratch directory whose ``data/`` holds a small
generated copy of the bundled datasets, so the project configs are used unchanged
(their ``data_root`` is the stock ``data/<dataset>/``). Models are shrunk and schedules
cut through ``--cfg-options``, as a user would.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from attnplug.testing import stock_tool

pytestmark = pytest.mark.e2e

SEG_CFG = 'configs/cbam/fcn_r18-w32-d8-cbam_1xb4-300iter_cityscapes-bundled-128x256.py'
DET_CFG = 'configs/cbam/faster-rcnn_r18-cbam-c2-c5_fpn_300iter_coco-bundled.py'

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_LOADER_OPTS = [f'{d}.num_workers=0' for d in _LOADERS] + \
    [f'{d}.persistent_workers=False' for d in _LOADERS]
SEG_TINY = _LOADER_OPTS + [
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2', 'model.backbone.base_channels=8',
    'model.backbone.stem_channels=8', 'model.decode_head.in_channels=64',
    'model.decode_head.channels=16', 'model.auxiliary_head.in_channels=32',
    'model.auxiliary_head.channels=8']
DET_TINY = _LOADER_OPTS + [
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2', 'model.backbone.base_channels=8',
    'model.neck.in_channels=[8,16,32,64]', 'model.neck.out_channels=32',
    'model.rpn_head.in_channels=32', 'model.rpn_head.feat_channels=32',
    'model.roi_head.bbox_roi_extractor.out_channels=32',
    'model.roi_head.bbox_head.in_channels=32', 'model.roi_head.bbox_head.fc_out_channels=64',
    'model.test_cfg.rcnn.score_thr=0.0']  # an untrained detector still outputs boxes to score


def iters(n, val=None):
    return [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={val or n}']


# A few iterations must move the weights: no warm-up (the bundled schedules start at 1/10
# and 1/1000 of the learning rate).
NO_WARMUP = ['param_scheduler.0.start_factor=1.0']


def val_loss(python_runner, repo_root, ws, cfg, checkpoint, tiny):
    """Mean loss on the validation images (tests/e2e_val_loss.py): with ``checkpoint``'s
    weights, or with the initialisation training starts from when it is None."""
    args = [repo_root / 'tests' / 'e2e_val_loss.py', cfg] + ([checkpoint] if checkpoint else [])
    out = python_runner([*args, '--cfg-options', *tiny], cwd=ws).stdout
    return float(out.rsplit('val_loss', 1)[1].split()[0])


def run_tool(python_runner, ws, tool, *args, env=None):
    return python_runner([tool, *args], cwd=ws, env=env)


def read_metrics(work_dir):
    paths = sorted(glob.glob(osp.join(work_dir, '2*', '2*.json')))
    assert paths, f'no metrics json under {work_dir}'
    with open(paths[-1]) as f:
        return json.load(f)


def ckpt(work_dir, it):
    path = osp.join(work_dir, f'iter_{it}.pth')
    assert osp.isfile(path), f'{path} missing; have {os.listdir(work_dir)}'
    return path


@pytest.mark.parametrize('package,cfg,tiny,metric', [
    ('mmseg', SEG_CFG, SEG_TINY, 'mIoU'),
    ('mmdet', DET_CFG, DET_TINY, 'coco/bbox_mAP'),
])
def test_stock_tools_train_test_resume(python_runner, workspace, repo_root, package, cfg, tiny,
                                       metric):
    """The stock <pkg>/.mim/tools/{train,test}.py run a project config that names attnplug
    types (no custom_imports): train, test the checkpoint (torch >= 2.6 weights_only load),
    then resume."""
    work = workspace / f'stock_{package}'
    cfg = repo_root / cfg
    train = stock_tool(package, 'train')
    out = run_tool(python_runner, workspace, train, cfg, '--work-dir', work, '--cfg-options',
                   *tiny, *NO_WARMUP, *iters(2))
    assert 'Iter(train) [2/2]' in out.stdout + out.stderr
    c2 = ckpt(work, 2)

    test_dir = work / 'test'
    run_tool(python_runner, workspace, stock_tool(package, 'test'), cfg, c2, '--work-dir',
             test_dir, '--cfg-options', *tiny)
    metrics = read_metrics(test_dir)
    assert metric in metrics, metrics
    assert 0.0 <= float(metrics[metric]) <= 100.0

    flag = ['--resume']
    res = run_tool(python_runner, workspace, train, cfg, '--work-dir', work, *flag,
                   '--cfg-options', *tiny, *NO_WARMUP, *iters(4))
    log = res.stdout + res.stderr
    assert 'resumed' in log.lower() and 'iter_2.pth' in log, log[-3000:]
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    # The trained (and resumed) model beats the initialisation it started from.
    untrained = val_loss(python_runner, repo_root, workspace, cfg, None, tiny)
    trained = val_loss(python_runner, repo_root, workspace, cfg, ckpt(work, 4), tiny)
    assert trained < untrained, (trained, untrained)


DANET_CFG = 'configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
ATTN_UNET_CFG = 'configs/attention_unet/attn-unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py'
DANET_TINY = SEG_TINY[:-4] + ['model.decode_head.in_channels=64', 'model.decode_head.channels=16',
                              'model.decode_head.pam_channels=4', 'model.auxiliary_head.in_channels=32',
                              'model.auxiliary_head.channels=8']
UNET_TINY = _LOADER_OPTS + [
    'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=2', 'model.backbone.base_channels=4',
    'model.decode_head.in_channels=4', 'model.decode_head.channels=4',
    'model.auxiliary_head.in_channels=8', 'model.auxiliary_head.channels=4']


@pytest.mark.parametrize('cfg,tiny', [(DANET_CFG, DANET_TINY), (ATTN_UNET_CFG, UNET_TINY)],
                         ids=['DAHead', 'AttentionUNet'])
def test_stock_mmseg_tools_attention_models(python_runner, workspace, repo_root, cfg, tiny):
    """attnplug's decode head and backbone train and test through the stock mmseg tools."""
    work = workspace / ('stock_' + osp.basename(cfg)[:-3])
    out = run_tool(python_runner, workspace, stock_tool('mmseg', 'train'), repo_root / cfg,
                   '--work-dir', work, '--cfg-options', *tiny, *iters(2))
    log = out.stdout + out.stderr
    assert 'Iter(train) [2/2]' in log
    run_tool(python_runner, workspace, stock_tool('mmseg', 'test'), repo_root / cfg,
             ckpt(work, 2), '--work-dir', work / 'test', '--cfg-options', *tiny)
    assert 'mIoU' in read_metrics(work / 'test')


def test_project_tools_seg(python_runner, workspace, repo_root):
    """attnplug's tools/train.py and tools/test.py on an mmseg config: load_from, --resume CKPT
    (mmseg's own flag takes no path), --out and --show-dir."""
    work = workspace / 'tools_seg'
    train = repo_root / 'tools' / 'train.py'
    run_tool(python_runner, workspace, train, repo_root / SEG_CFG, '--work-dir', work,
             '--cfg-options', *SEG_TINY, *iters(2))
    c2 = ckpt(work, 2)
    # load_from: fine-tune from the checkpoint in a new work dir
    ft = workspace / 'tools_seg_ft'
    out = run_tool(python_runner, workspace, train, repo_root / SEG_CFG, '--work-dir', ft,
                   '--cfg-options', f'load_from={c2}', *SEG_TINY, *iters(1))
    assert 'Load checkpoint from' in out.stdout + out.stderr
    # resume from an explicit checkpoint path
    res = run_tool(python_runner, workspace, train, repo_root / SEG_CFG, '--work-dir', ft,
                   '--resume', c2, '--cfg-options', *SEG_TINY, *iters(3))
    assert 'Iter(train) [3/3]' in res.stdout + res.stderr
    # test with predictions written out and painted
    out_dir, show_dir = workspace / 'seg_out', workspace / 'seg_show'
    run_tool(python_runner, workspace, repo_root / 'tools' / 'test.py', repo_root / SEG_CFG,
             c2, '--work-dir', work / 'test', '--out', out_dir, '--show-dir', show_dir,
             '--cfg-options', *SEG_TINY)
    assert 'mIoU' in read_metrics(work / 'test')
    assert len(glob.glob(str(out_dir / '*.png'))) == 3
    painted = glob.glob(str(show_dir / '**' / '*.png'), recursive=True)
    assert len(painted) == 3, painted


def test_project_tools_det_out_pkl(python_runner, workspace, repo_root):
    work = workspace / 'tools_det'
    run_tool(python_runner, workspace, repo_root / 'tools' / 'train.py', repo_root / DET_CFG,
             '--work-dir', work, '--cfg-options', *DET_TINY, *iters(2))
    pkl = workspace / 'det.pkl'
    run_tool(python_runner, workspace, repo_root / 'tools' / 'test.py', repo_root / DET_CFG,
             ckpt(work, 2), '--work-dir', work / 'test', '--out', pkl, '--cfg-options', *DET_TINY)
    assert pkl.is_file() and pkl.stat().st_size > 0
    assert 'coco/bbox_mAP' in read_metrics(work / 'test')


def test_tools_reject_a_config_without_scope(python_runner, workspace, repo_root, tmp_path):
    cfg = tmp_path / 'no_scope.py'
    cfg.write_text("model = dict(type='attnplug.CBAM', in_channels=8)\n")
    proc = python_runner([repo_root / 'tools' / 'train.py', cfg], cwd=workspace, check=False)
    assert proc.returncode != 0
    assert "default_scope=None" in proc.stderr + proc.stdout
    assert 'mmseg' in proc.stderr + proc.stdout


RANK_DUMP = """
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpRankParameters(Hook):
    \"\"\"Each rank writes its own model's parameters before and after training.\"\"\"

    def _dump(self, runner, tag):
        model = getattr(runner.model, 'module', runner.model)
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.save(params, f'{runner.work_dir}/rank{get_rank()}_{tag}.pth')

    def before_train(self, runner):
        self._dump(runner, 'init')

    def after_train(self, runner):
        self._dump(runner, 'final')
"""


@pytest.mark.skipif(shutil.which('torchrun') is None and not osp.exists(
    osp.join(osp.dirname(sys.executable), 'torchrun')), reason='torchrun not installed')
def test_distributed_two_processes_gloo(python_runner, workspace, repo_root):
    """tools/dist_train.sh: 2 processes on CPU (gloo), a few iterations. Each rank dumps its
    own parameters: both start equal, both change, and both end identical (DDP kept them in
    step)."""
    work = workspace / 'dist_seg'
    (workspace / 'attnplug_rank_dump.py').write_text(RANK_DUMP)
    cfg = workspace / 'dist_cfg.py'
    cfg.write_text(f"_base_ = [{str(repo_root / SEG_CFG)!r}]\n"
                   "custom_imports = dict(imports=['attnplug_rank_dump'], "
                   "allow_failed_imports=False)\n"
                   "custom_hooks = [dict(type='DumpRankParameters')]\n")
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = os.pathsep.join([str(repo_root), str(workspace)])
    env['PORT'] = str(29500 + os.getpid() % 1000)
    env['OMP_NUM_THREADS'] = '1'
    proc = subprocess.run(
        ['bash', str(repo_root / 'tools' / 'dist_train.sh'), str(cfg), '2',
         '--work-dir', str(work), '--cfg-options', *SEG_TINY, *iters(3)],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'Distributed launcher: pytorch' in log, log[-3000:]
    assert "backend='gloo'" in log or "'backend': 'gloo'" in log, log[-3000:]
    assert 'Iter(train) [3/3]' in log
    ckpt(work, 2)

    import torch
    params = {(rank, tag): torch.load(work / f'rank{rank}_{tag}.pth')
              for rank in (0, 1) for tag in ('init', 'final')}
    keys = list(params[0, 'final'])
    assert keys and all(list(p) == keys for p in params.values())
    changed = [k for k in keys if not torch.equal(params[0, 'init'][k], params[0, 'final'][k])]
    assert len(changed) > len(keys) // 2, 'training did not move the weights'
    for tag in ('init', 'final'):
        differ = [k for k in keys if not torch.equal(params[0, tag][k], params[1, tag][k])]
        assert not differ, f'ranks 0 and 1 hold different {tag} weights: {differ[:5]}'
