"""tools/benchmark_learning.py and benchmarks.learning: how the schedule is cut or
replaced, which baseline a config has, the seed options, runs in parallel (each child's own CPU
time), the committed run rows and their reuse, and the per-class IoU read from mmseg's
log table (full training runs are too slow for the suite: see docs/benchmarks/README.md; a
2-iteration run is in tests/tools/test_sweep.py)."""
import json
import math
import os
import threading

import pytest
from mmengine.config import Config

from benchmarks import learning, paths, reporting
from benchmarks.paths import repo_script

FCN = 'configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
UNET = 'configs/unet/unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py'
DET = 'configs/faster_rcnn/faster-rcnn_r18_fpn_300iter_coco-bundled.py'
SEG_SCHEDULE = 'configs/_base_/schedules/schedule_1200iter.py'
# a half-size schedule like the rejected check of docs/benchmarks/schedule_checks/ (commit 2eacd6e)
HALF_SIZE_SCHEDULE_TEXT = '''crop_size = (64, 128)
model = dict(data_preprocessor=dict(size=crop_size))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1200, val_interval=1200)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
'''


DET_SCHEDULE = 'configs/_base_/schedules/schedule_det_adamw-200iter_256x160.py'


def _half_size_schedule(folder) -> str:
    path = folder / 'schedule_1200iter_64x128.py'
    path.write_text(HALF_SIZE_SCHEDULE_TEXT)
    return str(path)


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
    tool = repo_script('tools/benchmark_learning.py')
    args = tool.parse_args(['--task', 'det', '--seeds', '0', '1', '2'])
    assert args.seeds == [0, 1, 2] and args.configs[0] == DET
    assert args.work_root.endswith('work_dirs/benchmark_det')
    with pytest.raises(SystemExit):
        tool.parse_args(['--iters', '2', '--schedule', SEG_SCHEDULE])
    with pytest.raises(SystemExit):
        tool.parse_args(['--schedule', 'configs/_base_/schedules/nope.py'])


def test_list_prints_the_configs_that_would_run(capsys):
    """benchmark_bundled.sh counts the planned runs with --list: it trains nothing."""
    tool = repo_script('tools/benchmark_learning.py')
    assert tool.main(['--task', 'seg', '--list']) == 0
    assert capsys.readouterr().out.split() == learning.default_configs('seg')
    assert tool.main(['--list', '--configs', DET, FCN]) == 0
    assert capsys.readouterr().out.split() == [DET, FCN]


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


def test_scheduled_names(tmp_path):
    assert learning.scheduled_name(FCN, None) == 'fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256'
    assert learning.scheduled_name(FCN, SEG_SCHEDULE) == \
        'fcn_r18-w32-d8_1xb4-1200iter_cityscapes-bundled-128x256'
    assert learning.scheduled_name(FCN, _half_size_schedule(tmp_path)) == \
        'fcn_r18-w32-d8_1xb4-1200iter_cityscapes-bundled-64x128'
    assert learning.scheduled_name(DET, DET_SCHEDULE) == \
        'faster-rcnn_r18_fpn_adamw-200iter_coco-bundled-256x160'
    assert learning.scheduled_name('configs/x/net_bundled.py',
                                   'configs/_base_/schedules/schedule_1200iter.py') == \
        'net_bundled_1200iter'


def test_benchmark_schedules_apply(tmp_path):
    """The schedule files laid over bundled configs give the schedule and sizes they promise."""
    seg = Config.fromfile(learning.write_scheduled_config(FCN, SEG_SCHEDULE, str(tmp_path)))
    own = Config.fromfile(FCN)
    assert seg.train_cfg.max_iters == 1200 and seg.param_scheduler[-1].end == 1200
    # 4x the configs' own 300 iterations, warm-up included; optimiser and images their own
    assert [(p.begin, p.end) for p in seg.param_scheduler] == \
        [(4 * p.begin, 4 * p.end) for p in own.param_scheduler]
    assert seg.optim_wrapper == own.optim_wrapper
    assert seg.train_dataloader.dataset.pipeline == own.train_dataloader.dataset.pipeline
    assert tuple(seg.crop_size) == (128, 256)
    assert seg.model.decode_head.type == 'FCNHead'  # the model is the config's own
    half = Config.fromfile(learning.write_scheduled_config(FCN, _half_size_schedule(tmp_path),
                                                           str(tmp_path)))
    assert tuple(half.model.data_preprocessor.size) == (64, 128)
    crop = [t for t in half.train_dataloader.dataset.pipeline if t.type == 'RandomCrop'][0]
    assert tuple(crop.crop_size) == (64, 128)
    det = Config.fromfile(learning.write_scheduled_config(DET, DET_SCHEDULE, str(tmp_path)))
    assert det.optim_wrapper.optimizer.type == 'AdamW'
    assert 'momentum' not in det.optim_wrapper.optimizer  # _delete_ dropped SGD's keys
    assert det.train_cfg.max_iters == 200 and det.param_scheduler[0].type == 'LinearLR'
    assert det.param_scheduler[-1].end == 200
    resize = [t for t in det.test_dataloader.dataset.pipeline if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (256, 160)
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


def test_parallel_children_report_their_own_cpu_time(tmp_path):
    """Two children run side by side; each reports its own CPU time, not the sum of both (the
    RUSAGE_CHILDREN accounting it replaced counted whichever child finished in the window)."""
    burn = tmp_path / 'burn.py'
    burn.write_text('import os, sys, time\n'
                    'assert os.environ["OMP_NUM_THREADS"] == "1"\n'
                    't = time.process_time()\n'
                    'while time.process_time() - t < float(sys.argv[1]):\n'
                    '    pass\n')
    results = {}

    def run(seconds):
        results[seconds] = learning._run_tool([str(burn), str(seconds)],
                                              str(tmp_path / f'{seconds}.log'), threads=1)

    threads = [threading.Thread(target=run, args=(s,)) for s in (0.3, 1.2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seconds, (rc, cpu, wall) in results.items():
        assert rc == 0
        assert seconds <= cpu < seconds + 0.6, (seconds, cpu)  # + interpreter start-up
    rc, _, _ = learning._run_tool(['-c', 'raise SystemExit(3)'], str(tmp_path / 'x.log'))
    assert rc == 3


def test_run_all_in_parallel_keeps_the_grid_order(monkeypatch, tmp_path):
    calls = []

    def fake_run_one(config, seed, work_root, **kwargs):
        calls.append((config, seed, kwargs.get('threads'), threading.get_ident()))
        return {'name': config, 'seed': seed}

    monkeypatch.setattr(learning, 'run_one', fake_run_one)
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: set(range(4)), raising=False)
    rows = learning.run_all(['a', 'b', 'c'], [0, 1], str(tmp_path), jobs=2)
    assert [(r['name'], r['seed']) for r in rows] == [(c, s) for c in 'abc' for s in (0, 1)]
    assert {c[2] for c in calls} == {2}  # 4 cores, 2 jobs: 2 threads each
    calls.clear()
    learning.run_all(['a'], [0], str(tmp_path), jobs=1)
    assert calls[0][2] is None  # one at a time: the thread count is left alone


def _record(config=FCN, seed=1, schedule=SEG_SCHEDULE, **extra):
    row = dict(name=learning.scheduled_name(config, schedule), config=config, seed=seed,
               baseline=config, baseline_name=learning.scheduled_name(config, schedule),
               schedule=schedule, iters='', work_dir='work_dirs/nowhere', train_cpu_s=1.0,
               test_cpu_s=1.0, metrics={'mIoU': 40.0 + seed, 'aAcc': 80.0},
               extra_metrics={'cue_classes_mIoU': 10.0})
    row.update(extra)
    return row


def _recorded_run_and_failing_training(monkeypatch, tmp_path):
    """A committed row for FCN seed 1 under ``tmp_path/runs``, and ``_run_tool`` replaced by a
    training that fails (the run reports the error); returns (records, row, tools called)."""
    records = tmp_path / 'runs'
    row = _record()
    path = learning.record_path(str(records), row['name'], 1)
    os.makedirs(os.path.dirname(path))
    with open(path, 'w') as f:
        json.dump(row, f)
    ran = []

    def fake_tool(args, log, threads=None):
        ran.append(args[0])
        with open(log, 'w') as f:
            f.write('boom\n')
        return 1, 0.0, 0.0  # a failed training: the run reports the error

    monkeypatch.setattr(learning, '_run_tool', fake_tool)
    monkeypatch.setattr(learning, 'missing_data', lambda *a: None)  # data/ is there
    return records, row, ran


def test_a_recorded_run_is_reused_and_a_different_one_is_not(monkeypatch, tmp_path):
    records, row, ran = _recorded_run_and_failing_training(monkeypatch, tmp_path)
    got = learning.run_one(FCN, 1, str(tmp_path / 'wd'), schedule=SEG_SCHEDULE, reuse=True,
                           records=str(records))
    assert got['metrics'] == row['metrics'] and not ran
    # another seed, another schedule, or no --reuse: the run is made (and fails here)
    for kwargs in (dict(seed=2, schedule=SEG_SCHEDULE, reuse=True),
                   dict(seed=1, schedule=None, reuse=True),
                   dict(seed=1, schedule=SEG_SCHEDULE, reuse=False)):
        seed = kwargs.pop('seed')
        got = learning.run_one(FCN, seed, str(tmp_path / 'wd'), records=str(records), **kwargs)
        assert got['error'].startswith('train exited 1')
        assert got['machine'] == reporting.cpu_model()  # a made run keeps its machine
    assert ran == ['tools/train.py'] * 3
    # a failed run leaves no record behind
    assert sorted(os.listdir(records)) == [row['name']]
    assert os.listdir(records / row['name']) == ['seed1.json']


def test_stop_after_starts_no_new_run_but_reuses_finished_ones(monkeypatch, tmp_path, capsys):
    """--stop-after: once its time has passed a run is not started (its row says so and the
    tool does not fail), a finished run is still reused, and a failed run still fails."""
    records, row, ran = _recorded_run_and_failing_training(monkeypatch, tmp_path)
    rows = learning.run_all([FCN], [1, 2], str(tmp_path / 'wd'), schedule=SEG_SCHEDULE,
                            reuse=True, records=str(records), start_by=learning.start_by(0))
    assert rows[0]['metrics'] == row['metrics'] and not rows[0].get('skipped')
    assert rows[1]['skipped'] and rows[1]['error'].startswith('not started') and not ran
    assert learning.exit_status(rows) == 0
    assert '1 of 2 runs not started' in capsys.readouterr().err
    assert learning.sitting(rows) == '0 made, 1 reused from earlier sittings, 1 not started'
    assert learning.machines(rows) == 'not recorded: 1 run'  # the row predates the field
    assert not os.path.exists(learning.record_path(str(records), row['name'], 2))
    learning.report(rows, str(tmp_path / 'table'), {'date': 'd'})
    table, _ = reporting.read_csv(str(tmp_path / 'table.csv'))
    assert [r['seed'] for r in table] == ['1']  # the unstarted run is not a row
    assert f'(`--stop-after`, 1): {row["name"]} seed 2.' in (tmp_path / 'table.md').read_text()
    # with time left the run is made (and its failure is the tool's failure)
    rows = learning.run_all([FCN], [2], str(tmp_path / 'wd'), schedule=SEG_SCHEDULE,
                            reuse=True, records=str(records), start_by=learning.start_by(60))
    assert ran == ['tools/train.py'] and learning.exit_status(rows) == 1
    assert learning.sitting(rows) == '1 made, 0 reused from earlier sittings, 0 not started'
    tool = repo_script('tools/benchmark_learning.py')
    with pytest.raises(SystemExit):
        tool.parse_args(['--stop-after', '-1'])


def test_a_run_without_its_data_is_not_started(monkeypatch, tmp_path):
    """A fresh clone has no data/: the run is not started, and its error names the config,
    the dataloader key, the folder and the command that makes the data."""
    ran = []
    monkeypatch.setattr(learning, '_run_tool', lambda *a, **k: ran.append(a) or (0, 0.0, 0.0))
    config = os.path.join(learning.ROOT, FCN)
    monkeypatch.setattr(learning, 'ROOT', str(tmp_path))  # a checkout without data/
    monkeypatch.setattr(paths, 'ROOT', str(tmp_path))
    why = learning.missing_data(config)
    assert f'{os.path.basename(FCN)}: train_dataloader.dataset.data_root ' in why
    assert 'data/cityscapes' in why and 'python data/generate.py --root data' in why
    row = learning.run_one(config, 0, str(tmp_path / 'wd'))
    assert row['error'] == f'not started: {why}' and not ran
    assert learning.exit_status([row]) == 1
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    options = [f'{split}_dataloader.dataset.data_root={elsewhere}'
               for split in ('train', 'val', 'test')]
    assert learning.missing_data(config, options) is None  # --cfg-options count, as in train.py
    assert ': test_dataloader.dataset.data_root ' in learning.missing_data(config, options[:2] + [
        f'test_dataloader.dataset.data_root={tmp_path / "none"}'])
    for split in ('train', 'val'):  # the data made, the run starts (test = val here)
        root = Config.fromfile(config)[f'{split}_dataloader']['dataset']['data_root']
        (tmp_path / root).mkdir(parents=True, exist_ok=True)
    assert learning.missing_data(config) is None


def test_leaderboard_from_committed_records(tmp_path):
    """Run rows without their work dirs (a fresh clone) still make the leaderboard: metrics
    from the rows, the trained config regenerated from config + schedule."""
    from benchmarks import leaderboard as lb
    records = tmp_path / 'runs'
    danet = 'configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'
    for seed in (0, 1, 2):
        for config, offset in ((FCN, 0.0), (danet, 5.0 + seed)):
            row = _record(config, seed, baseline_name=learning.scheduled_name(FCN, SEG_SCHEDULE))
            row['metrics']['mIoU'] += offset
            path = learning.record_path(str(records), row['name'], seed)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(row, f)
    paths = lb.expand_work_dirs(sorted(str(p) for p in records.iterdir()))
    assert len(paths) == 6 and all(p.endswith('.json') for p in paths)
    runs = lb.collect_runs(paths)
    assert {r.seed for r in runs} == {0, 1, 2}
    r = next(r for r in runs if r.name.startswith('danet'))
    assert r.metrics['mIoU'] == 45.0 and r.metrics['cue_classes_mIoU'] == 10.0
    assert r.source is lb.MetricSource.RECORD and r.checkpoint is None
    cfg = Config.fromfile(r.dumped_config)
    assert cfg.train_cfg.max_iters == 1200 and cfg.model.decode_head.type == 'attnplug.DAHead'
    assert r.scope == 'mmseg'
    groups = lb.write(runs, str(tmp_path / 'lb'), 'test', metric='mIoU', do_measure=False)
    by = {g.name: g for g in groups}
    stats = by[learning.scheduled_name(danet, SEG_SCHEDULE)].stats['mIoU']
    assert stats['n'] == 3 and stats['d_significant']


def test_cost_summary_sums_committed_rows(tmp_path, monkeypatch):
    """The cost of a benchmark over sittings: CPU and wall hours summed from the rows, runs
    with an error left out, the missing runs estimated from the part's mean."""
    monkeypatch.setattr(learning, 'ROOT', str(tmp_path))
    monkeypatch.setattr(paths, 'ROOT', str(tmp_path))

    def row(part, name, seed, train, test, error=None, machine=None):
        path = tmp_path / part / name / f'seed{seed}.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            'name': name, 'seed': seed, 'train_cpu_s': train, 'test_cpu_s': test,
            'train_wall_s': 2 * train, 'test_wall_s': 2 * test, 'error': error,
            'metrics': {} if error else {'mIoU': 50.0},
            **({'machine': machine} if machine else {})}))
    row('a', 'fcn', 0, 3000., 600.)
    row('a', 'fcn', 1, 1800., 0., machine='CPU X')
    row('a', 'danet', 0, 9999., 9., error='Traceback ...')  # failed: not counted
    row('b', 'x', 0, 360., 0.)
    rows = learning.cost_summary({'a': 'a', 'b': 'b'}, {'a': 4, 'b': 1})
    a, b, total = rows
    assert (a['runs'], a['planned'], b['runs']) == (2, 4, 1)
    assert a['train_cpu_h'] == pytest.approx(4800 / 3600)
    assert a['cpu_s_per_run'] == pytest.approx(2700.)
    assert a['run_wall_h'] == pytest.approx(2 * 5400 / 3600)
    assert a['remaining_cpu_h_estimate'] == pytest.approx(2 * 2700 / 3600)
    assert b['remaining_cpu_h_estimate'] == 0.
    assert total['runs'] == 3 and total['planned'] == 5
    assert total['remaining_cpu_h_estimate'] == pytest.approx(1.5)
    # a row before rows kept their machine says so; the failed run is not counted
    assert a['machines'] == 'CPU X: 1 run; not recorded: 1 run'
    assert total['machines'] == 'CPU X: 1 run; not recorded: 2 runs'
    learning.cost_report(rows, str(tmp_path / 'cost'), {'date': 'd'}, jobs=2)
    text = (tmp_path / 'cost.md').read_text()
    lanes = min(2, os.cpu_count())
    whole = (4800 + 600 + 360) / 3600 + 1.5
    assert f'about {whole / lanes:.1f} h of wall time at {lanes} runs at a time' in text
    assert '- runs made on: CPU X: 1 run; not recorded: 2 runs' in text
    assert '(3 of 5 runs made; the rest estimated' in text
    # every planned run made: nothing is called an estimate
    rows = learning.cost_summary({'b': 'b'}, {'b': 1})
    learning.cost_report(rows, str(tmp_path / 'cost_all'), {}, jobs=2)
    text = (tmp_path / 'cost_all.md').read_text()
    assert '(all 1 runs made)' in text and 'estimated' not in text.split('| part |')[0]
    # a part with no run and no plan cannot be estimated, and the report says so
    rows = learning.cost_summary({'a': 'a', 'c': 'missing'}, {})
    learning.cost_report(rows, str(tmp_path / 'cost2'), {}, jobs=2)
    assert 'not estimated: a, c' in (tmp_path / 'cost2.md').read_text()


def test_cost_cli_rejects_malformed_parts():
    tool = repo_script('tools/benchmark_cost.py')
    with pytest.raises(SystemExit, match="expected NAME=VALUE"):
        tool.parse_args(['seg'])
    with pytest.raises(SystemExit, match="is not a whole number"):
        tool.parse_args(['seg=x', '--planned', 'seg=many'])
    with pytest.raises(SystemExit):
        tool.parse_args(['seg=x', '--planned', 'det=3'])  # a plan for a part not given
