"""tools/benchmark_learning.py helpers: how the schedule is cut, which baseline a config has,
and the per-class IoU read from mmseg's log table (the training runs themselves are too slow
for the suite; see docs/benchmarks/README.md)."""
import importlib.util
import math

import pytest

FCN = 'configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
UNET = 'configs/unet/unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py'


@pytest.fixture(scope='module')
def tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'benchmark_learning', repo_root / 'tools' / 'benchmark_learning.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_baselines(tool):
    assert tool.baseline_of(FCN) == FCN
    assert tool.baseline_of('configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py') == FCN
    assert tool.baseline_of(
        'configs/attention_unet/attn-unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py') == UNET
    configs = tool.parse_args([]).configs
    assert configs[0] == FCN and FCN in configs and UNET in configs
    assert {c for c in configs if tool.baseline_of(c) == c} == {FCN, UNET}


def test_schedule_is_cut_consistently(tool):
    assert tool.schedule_options(FCN, None) == []
    opts = dict(o.split('=') for o in tool.schedule_options(FCN, 30))
    assert opts['train_cfg.max_iters'] == opts['train_cfg.val_interval'] == '30'
    assert opts['default_hooks.checkpoint.interval'] == '30'
    # warm-up 0..20 and poly 20..300 of 300 iterations, scaled to 30
    assert opts['param_scheduler.0.end'] == '2'
    assert opts['param_scheduler.1.begin'] == '2' and opts['param_scheduler.1.end'] == '30'


def test_per_class_iou_from_log(tool, tmp_path):
    log = tmp_path / 'run.log'
    log.write_text(
        '2026/11/21 12:00:00 - mmengine - INFO - per class results:\n'
        '2026/11/21 12:00:00 - mmengine - INFO - \n'
        '+---------+-------+-------+\n'
        '|  Class  |  IoU  |  Acc  |\n'
        '+---------+-------+-------+\n'
        '|   road  | 91.5  | 97.0  |\n'
        '|  person | 12.25 | 30.0  |\n'
        '| bicycle |  nan  |  nan  |\n'
        '+---------+-------+-------+\n'
        '2026/11/21 12:00:01 - mmengine - INFO - Iter(test) [16/16] mIoU: 30.0\n')
    ious = tool.per_class_iou(str(log))
    assert ious['road'] == 91.5 and ious['person'] == 12.25 and math.isnan(ious['bicycle'])
