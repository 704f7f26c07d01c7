"""tools/benchmark_learning.py and attnplug.analysis.learning: how the schedule is cut or
replaced, which baseline a config has, the seed options, and the per-class IoU read from mmseg's
log table (full training runs are too slow for the suite: see docs/benchmarks/README.md; a
2-iteration run is in tests/tools/test_sweep.py)."""
import math

import pytest
from mmengine.config import Config

from attnplug.analysis import learning

FCN = 'configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
UNET = 'configs/unet/unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py'
DET = 'configs/faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py'
SEG_SCHEDULE = 'configs/_base_/schedules/schedule_1200iter_64x128.py'
DET_SCHEDULE = 'configs/_base_/schedules/schedule_det_adamw-400iter_320x192.py'


def test_baselines():
    assert learning.baseline_of(FCN) == FCN
    assert learning.baseline_of(
        'configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py') == FCN
    assert learning.baseline_of(
        'configs/attention_unet/attn-unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py'
    ) == UNET
    assert learning.baseline_of('configs/cbam/faster-rcnn_r18-cbam-c2-c5_fpn_300iter_coco-bundled.py') == DET
    mit = 'configs/segformer/segformer_mit-w16_1xb4-300iter_cityscapes-bundled-128x256.py'
    assert learning.baseline_of(
        'configs/with_plugins/segformer_mit-w16-cbam_1xb4-300iter_cityscapes-bundled-128x256.py'
    ) == mit  # a WithPlugins row is ranked against its own unwrapped model
    seg = learning.default_configs('seg')
    assert seg[0] in (FCN, UNET, mit) and FCN in seg and UNET in seg and mit in seg
    assert {c for c in seg if learning.baseline_of(c) == c} == {FCN, UNET, mit}
    det = learning.default_configs('det')
    assert det[0] == DET and len(det) >= 9 and all('coco-bundled' in c for c in det)


def test_cli_defaults_and_errors(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('bl', f'{learning.ROOT}/tools/benchmark_learning.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(['--task', 'det', '--seeds', '0', '1', '2'])
    assert args.seeds == [0, 1, 2] and args.configs[0] == DET
    assert args.work_root.endswith('work_dirs/benchmark_det')
    with pytest.raises(SystemExit):
        tool.parse_args(['--iters', '2', '--schedule', SEG_SCHEDULE])
    with pytest.raises(SystemExit):
        tool.parse_args(['--schedule', 'configs/_base_/schedules/nope.py'])


def test_schedule_is_cut_consistently():
    assert learning.schedule_options(FCN, None) == []
    opts = dict(o.split('=') for o in learning.schedule_options(FCN, 30))
    assert opts['train_cfg.max_iters'] == opts['train_cfg.val_interval'] == '30'
    assert opts['default_hooks.checkpoint.interval'] == '30'
    # warm-up 0..20 and poly 20..300 of 300 iterations, scaled to 30
    assert opts['param_scheduler.0.end'] == '2'
    assert opts['param_scheduler.1.begin'] == '2' and opts['param_scheduler.1.end'] == '30'
    # milestones are scaled too (the detection schedule's step at 240 of 300)
    det = dict(o.split('=') for o in learning.schedule_options(DET, 30))
    assert det['param_scheduler.1.milestones.0'] == '24'


def test_scheduled_names():
    assert learning.scheduled_name(FCN, None) == 'fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256'
    assert learning.scheduled_name(FCN, SEG_SCHEDULE) == \
        'fcn_r18-w32-d8_1xb4-1200iter_cityscapes-bundled-64x128'
    assert learning.scheduled_name(DET, DET_SCHEDULE) == \
        'faster-rcnn_r18_fpn_adamw-400iter_coco-bundled-320x192'
    assert learning.scheduled_name('configs/x/net_bundled.py',
                                   'configs/_base_/schedules/schedule_1200iter.py') == \
        'net_bundled_1200iter'


def test_benchmark_schedules_apply(tmp_path):
    """The schedule files laid over bundled configs give the schedule and sizes they promise."""
    seg = Config.fromfile(learning.write_scheduled_config(FCN, SEG_SCHEDULE, str(tmp_path)))
    assert seg.train_cfg.max_iters == 1200 and seg.param_scheduler[-1].end == 1200
    assert tuple(seg.crop_size) == (64, 128) and tuple(seg.model.data_preprocessor.size) == (64, 128)
    crop = [t for t in seg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop'][0]
    assert tuple(crop.crop_size) == (64, 128)
    assert seg.model.decode_head.type == 'FCNHead'  # the model is the config's own
    det = Config.fromfile(learning.write_scheduled_config(DET, DET_SCHEDULE, str(tmp_path)))
    assert det.optim_wrapper.optimizer.type == 'AdamW'
    assert 'momentum' not in det.optim_wrapper.optimizer  # _delete_ dropped SGD's keys
    assert det.train_cfg.max_iters == 400 and det.param_scheduler[0].type == 'LinearLR'
    resize = [t for t in det.test_dataloader.dataset.pipeline if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (320, 192)
    assert det.model.backbone.depth == 18


def test_per_class_iou_from_log(tmp_path):
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
    ious = learning.per_class_iou(str(log))
    assert ious['road'] == 91.5 and ious['person'] == 12.25 and math.isnan(ious['bicycle'])
