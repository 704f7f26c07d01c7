"""tools/leaderboard.py and benchmarks.leaderboard: seeds grouped per config, Welch
intervals against the baseline (checked against scipy's own Welch test), the refusal to rank
against a baseline that did not learn, a measured tiny model, published rows kept apart."""
import json
import shutil
from pathlib import Path

import pytest
import yaml
from scipy import stats

from benchmarks import leaderboard as lb
from benchmarks import reporting
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return repo_script('tools/leaderboard.py')


def _run(root, name, seed, metrics, baseline, extra=None):
    wd = root / name / f'seed{seed}'
    (wd / 'test' / '20261121_000000').mkdir(parents=True)
    (wd / 'test' / '20261121_000000' / '20261121_000000.json').write_text(json.dumps(metrics))
    (wd / 'run.json').write_text(json.dumps({'name': name, 'seed': seed, 'config': f'{name}.py',
                                             'baseline_name': baseline,
                                             'extra_metrics': extra or {}}))
    return wd


def test_welch_interval_matches_scipy():
    a, b = [60.1, 61.3, 62.0, 59.5], [50.2, 53.9, 51.0]
    res = lb.welch_interval(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert res['lo'] == pytest.approx(ref.low) and res['hi'] == pytest.approx(ref.high)
    assert res['significant'] and res['diff'] == pytest.approx(sum(a) / 4 - sum(b) / 3)
    noisy = lb.welch_interval([50, 53, 49], [51, 50, 52])
    assert noisy['lo'] < 0 < noisy['hi'] and not noisy['significant']
    single = lb.welch_interval([55.0], [50, 51, 52])
    assert single['lo'] is None and not single['significant']
    flat = lb.welch_interval([2.0, 2.0], [1.0, 1.0])
    assert flat['lo'] == flat['hi'] == 1.0 and flat['significant']


def test_summary_and_learned():
    s = lb.summary([1.0, 2.0, 3.0])
    assert s == {'mean': 2.0, 'std': 1.0, 'n': 3}
    assert lb.summary([4.0]) == {'mean': 4.0, 'std': None, 'n': 1}
    assert lb.learned([0.31, 0.4, 0.35], 'coco/bbox_mAP')[0]
    ok, why = lb.learned([0.31, 0.0, 0.35], 'coco/bbox_mAP')
    assert not ok and '1 of 3' in why
    assert not lb.learned([40.0, 12.0], 'mIoU')[0]


def test_seeds_grouped_with_intervals(tmp_path):
    base = 'fcn_bundled'
    for seed, (b, good, same) in enumerate([(50.0, 60.0, 50.5), (51.0, 61.5, 53.0),
                                            (52.0, 60.7, 49.0)]):
        _run(tmp_path, base, seed, {'mIoU': b, 'aAcc': 90.0 + seed}, base)
        _run(tmp_path, 'good_bundled', seed, {'mIoU': good, 'aAcc': 91.0}, base,
             {'cue_classes_mIoU': 40.0 + seed})
        _run(tmp_path, 'same_bundled', seed, {'mIoU': same, 'aAcc': 90.0}, base)
    out = tmp_path / 'lb'
    groups = _tool().main([str(tmp_path / n) for n in (base, 'good_bundled', 'same_bundled')]
                          + ['--out-dir', str(out), '--no-measure', '--metric', 'mIoU'])
    by = {g.name: g for g in groups}
    assert by['good_bundled'].seeds == [0, 1, 2]
    assert by['good_bundled'].stats['mIoU']['n'] == 3
    assert by['good_bundled'].stats['mIoU']['d_significant']
    assert not by['same_bundled'].stats['mIoU']['d_significant']
    assert by['fcn_bundled'].status is lb.Status.IS_BASELINE
    assert by['good_bundled'].status is lb.Status.LEARNED
    rows, header = reporting.read_csv(str(out / 'leaderboard.csv'))
    assert header['metric'] == 'mIoU' and header['date'][:4].isdigit() and 'command' in header
    good = next(r for r in rows if r['name'] == 'good_bundled')
    assert float(good['mIoU_mean']) == pytest.approx(182.2 / 3)
    assert good['mIoU_n'] == '3' and good['mIoU_significant'] == 'True'
    md = (out / 'leaderboard.md').read_text()
    assert '**+9.73**' in md  # significant: bold with its interval
    assert '*n.s.*' in md  # the other one is marked not significant
    assert md.index('| good_bundled') < md.index('| fcn_bundled')  # ranked by the mean
    assert 'cue_classes_mIoU' in md
    assert (out / 'leaderboard.png').stat().st_size > 1000
    # the markdown is a function of the CSV
    assert lb.render_markdown(str(out / 'leaderboard.csv')) == md.rstrip('\n').split('\n')


def test_seeds_above_a_level_are_counted(tmp_path):
    """--seeds-above: each row says on how many seeds a metric beat a level (a run without the
    metric counts as not above), the header keeps the level, the table and the docs' block
    show the count, and a metric no run has, or a malformed option, is refused."""
    from benchmarks import doc_blocks
    base = 'fcn_bundled'
    for seed, (b, h) in enumerate([(11.0, 53.0), (9.0, 93.6), (13.5, 37.0)]):
        _run(tmp_path, base, seed, {'mIoU': 52.0 + seed}, base, {'cue_classes_mIoU': b})
        _run(tmp_path, 'head_bundled', seed, {'mIoU': 70.0 + seed}, base,
             {'cue_classes_mIoU': h} if seed < 2 else {})
    out = tmp_path / 'lb'
    dirs = [str(tmp_path / base), str(tmp_path / 'head_bundled')]
    _tool().main(dirs + ['--out-dir', str(out), '--no-measure',
                         '--seeds-above', 'cue_classes_mIoU=37.07'])
    rows, header = reporting.read_csv(str(out / 'leaderboard.csv'))
    assert header['seeds_above'] == 'cue_classes_mIoU > 37.07'
    assert {r['name']: r['cue_classes_mIoU_seeds_above'] for r in rows} == {
        base: '0/3', 'head_bundled': '2/3'}
    assert lb.parse_above(header['seeds_above']) == {'cue_classes_mIoU': 37.07}
    md = (out / 'leaderboard.md').read_text()
    assert '| seeds with cue_classes_mIoU > 37.07 |' in md and '| 2/3 |' in md
    block = doc_blocks.render('tools/leaderboard.py', str(out / 'leaderboard.csv'), {})
    assert 'seeds with cue_classes_mIoU > 37.07' in block and '| 0/3 |' in block
    assert lb.render_markdown(str(out / 'leaderboard.csv')) == md.rstrip('\n').split('\n')
    with pytest.raises(SystemExit, match='seeds_above names person_IoU, which no run has'):
        _tool().main(dirs + ['--out-dir', str(out), '--no-measure',
                             '--seeds-above', 'person_IoU=30'])
    for bad in ('cue_classes_mIoU', 'cue_classes_mIoU=high', '=3'):
        with pytest.raises(SystemExit):
            _tool().parse_args(dirs + ['--seeds-above', bad])
    with pytest.raises(ValueError, match='expected "METRIC > VALUE"'):
        lb.parse_above('cue_classes_mIoU >= 3')


def test_a_baseline_that_did_not_learn_is_not_ranked_against(tmp_path):
    base = 'faster_bundled'
    for seed, (b, p) in enumerate([(0.0, 0.41), (0.38, 0.45), (0.40, 0.44)]):
        _run(tmp_path, base, seed, {'coco/bbox_mAP': b}, base)
        _run(tmp_path, 'plugin_bundled', seed, {'coco/bbox_mAP': p}, base)
    out = tmp_path / 'lb'
    groups = _tool().main([str(tmp_path / base), str(tmp_path / 'plugin_bundled'),
                           '--out-dir', str(out), '--no-measure'])
    plugin = next(g for g in groups if g.name == 'plugin_bundled')
    assert plugin.status is lb.Status.NOT_LEARNED and '1 of 3' in plugin.status_reason
    assert 'd_diff' not in plugin.stats['coco/bbox_mAP']
    base = next(g for g in groups if g.name == base)
    assert base.status is lb.Status.IS_BASELINE_NOT_LEARNED
    md = (out / 'leaderboard.md').read_text()
    assert 'did not learn' in md and 'not compared (baseline did not learn)' in md
    assert '**+' not in md
    # the runs keep their order: nothing is ranked
    assert md.index('| faster_bundled') < md.index('| plugin_bundled')


@pytest.fixture
def work_dir(tiny_config, tiny_checkpoint, tmp_path):
    wd = tmp_path / 'wd'
    (wd / 'test' / '20261121_000000').mkdir(parents=True)
    shutil.copy(tiny_config, wd / tiny_config.name)
    shutil.copy(tiny_checkpoint, wd / 'iter_1.pth')
    (wd / 'last_checkpoint').write_text(str(wd / 'iter_1.pth'))
    (wd / 'test' / '20261121_000000' / '20261121_000000.json').write_text(
        json.dumps({'aAcc': 90.1, 'mIoU': 42.5, 'mAcc': 50.0, 'time': 0.1}))
    return wd


def test_measured_model_and_published_rows(work_dir, tmp_path):
    published = tmp_path / 'published.yml'
    published.write_text(yaml.safe_dump([{
        'name': 'danet_r50-d8_4xb2-40k_cityscapes-512x1024', 'published': True,
        'source': 'https://github.com/open-mmlab/mmsegmentation/tree/main/configs/danet',
        'metrics': {'mIoU': 78.74}, 'memory_gb': 7.4, 'fps': 2.66, 'hardware': 'V100'}]))
    out = tmp_path / 'lb'
    groups = _tool().main([str(work_dir), '--published', str(published), '--out-dir', str(out),
                           '--shape', '64', '128'])
    (g, ) = groups
    cost = g.cost
    assert g.stats['mIoU']['mean'] == 42.5 and g.stats['mIoU']['n'] == 1
    assert cost['gflops'] > 0 and cost['params_m'] > 0 and cost['ms_per_img'] > 0
    assert cost['input_shape'] == '64x128'
    md = (out / 'leaderboard.md').read_text()
    pub = md.index('## Published reference')
    assert 'github.com/open-mmlab' in md[pub:] and '78.74' in md[pub:]
    assert '78.74' not in md[:pub]  # never in the measured ranking
    assert 'single seed' in md and '42.50' in md
    meta = yaml.safe_load((out / 'metafile.yml').read_text())
    (model, ) = meta['Models']  # published rows are not in the model index
    assert model['Name'] == 'tiny_danet_cbam'
    assert model['Results'][0]['Metrics']['mIoU'] == 42.5
    assert model['Results'][0]['Task'] == 'Semantic Segmentation'
    assert model['Metadata']['FLOPs'] > 0 and model['Metadata']['Parameters'] > 0
    assert yaml.safe_load((out / 'model-index.yml').read_text()) == {
        'Import': ['metafile.yml']}


def test_unsourced_published_numbers_are_refused(tmp_path):
    published = tmp_path / 'published.yml'
    published.write_text(yaml.safe_dump([{'name': 'x', 'metrics': {'mIoU': 99.0}}]))
    with pytest.raises(SystemExit, match='source'):
        _tool().main(['--published', str(published), '--out-dir', str(tmp_path / 'lb')])


def test_a_detector_without_detections_is_said_so(tmp_path):
    """mmdet's CocoMetric returns no metric at all when the model detects nothing: the test
    json holds only its timings. The run counts as box mAP 0 and says why; the metrics come
    from mmengine's JSON alone (no text log is read)."""
    assert lb.test_metrics(str(tmp_path / 'wd')) == ({}, lb.MetricSource.NONE, '')
    run = tmp_path / 'wd' / 'test' / '20261121_000000'
    run.mkdir(parents=True)
    (run / '20261121_000000.json').write_text(json.dumps({'time': 0.1}))
    metrics, source, detail = lb.test_metrics(str(tmp_path / 'wd'))
    assert metrics == {} and source is lb.MetricSource.EMPTY_TEST
    assert detail == 'test/20261121_000000/20261121_000000.json'
    (tmp_path / 'wd' / 'run.json').write_text(json.dumps({'name': 'det', 'seed': 0}))
    (run_, ) = lb.collect_runs([str(tmp_path / 'wd')])
    assert run_.metrics == {'coco/bbox_mAP': 0.0} and run_.source is lb.MetricSource.EMPTY_TEST
    # a later validation with a metric is read instead (vis_data/scalars.json)
    scalars = tmp_path / 'wd' / '20261121_000001' / 'vis_data'
    scalars.mkdir(parents=True)
    (scalars / 'scalars.json').write_text(json.dumps({'coco/bbox_mAP': 0.25, 'step': 40}) + '\n')
    assert lb.test_metrics(str(tmp_path / 'wd')) == (
        {'coco/bbox_mAP': 0.25}, lb.MetricSource.VAL, 'last, iter 40')


def test_plot_labels_drop_what_every_name_shares():
    labels = lb.short_labels(['faster-rcnn_r18-eca-c2-c5_fpn_300iter_coco-bundled',
                              'faster-rcnn_r18_fpn_300iter_coco-bundled',
                              'faster-rcnn_r18-mhsa-c4-c5_fpn_300iter_coco-bundled'])
    assert labels == ['eca-c2-c5', 'faster-rcnn_r18_fpn_300iter_coco-bundled', 'mhsa-c4-c5']
    assert lb.short_labels(['only_one']) == ['only_one']


def test_metafile_weights_inside_the_repository_are_repo_relative(tmp_path):
    inside = ROOT / 'work_dirs' / 'x' / 'iter_300.pth'
    assert lb._repo_relative(str(inside)) == 'work_dirs/x/iter_300.pth'
    outside = tmp_path / 'iter_1.pth'
    assert lb._repo_relative(str(outside)) == str(outside)
    assert lb._repo_relative(None) is None


def test_a_status_is_an_enum_and_its_csv_text_reads_back():
    """The CSV's baseline_status is written from the enum and read back to it, reason and all;
    a text that is no status is an error, not a silent 'learned'."""
    from benchmarks.leaderboard.rows import parse_status, status_text
    why = '1 of 3 seed(s) at or below the learning threshold mIoU > 15 (9.5)'
    for status in lb.Status:
        reason = why if status in (lb.Status.NOT_LEARNED,
                                   lb.Status.IS_BASELINE_NOT_LEARNED) else ''
        assert parse_status(status_text(status, reason)) == (status, reason)
    assert status_text(lb.Status.IS_BASELINE_NOT_LEARNED, why) == \
        f'is baseline (not learned: {why})'
    with pytest.raises(ValueError, match='baseline_status'):
        parse_status('learnt')


def test_the_csv_reads_back_to_the_same_rows_and_bytes(tmp_path):
    """A leaderboard written from the groups in memory and one re-rendered from its CSV are the
    same rows, markdown and plot: what a doc block quotes cannot drift from the file."""
    base = 'fcn_bundled'
    for seed, (b, h) in enumerate([(50.0, 60.0), (51.0, 64.5), (52.0, 60.7)]):
        _run(tmp_path, base, seed, {'mIoU': b, 'aAcc': 90.0}, base, {'cue_classes_mIoU': 9.})
        _run(tmp_path, 'head_bundled', seed, {'mIoU': h}, base, {'cue_classes_mIoU': 40.})
    runs = lb.collect_runs(lb.expand_work_dirs([str(tmp_path / base),
                                                str(tmp_path / 'head_bundled')]))
    out = tmp_path / 'lb'
    out.mkdir()
    groups = lb.write(runs, str(out), 'test', metric='mIoU', do_measure=False,
                      above={'cue_classes_mIoU': 37.0})
    for g in groups:
        g.cost = {'params_m': 1.5, 'gflops': 0.0, 'input_shape': '64x128', 'ms_per_img': 10.0}
    rows, header = lb.read(str(out / 'leaderboard.csv'))
    metrics = ['mIoU', 'aAcc', 'cue_classes_mIoU']
    fresh = lb.csv_rows(groups, metrics, above={'cue_classes_mIoU': 37.0})
    assert [lb.to_csv(r) for r in rows] != [lb.to_csv(r) for r in fresh]  # costs differ ...
    lb.save_csv(str(out / 'again.csv'), fresh, metrics, header, ['cue_classes_mIoU'])
    again, _ = lb.read(str(out / 'again.csv'))
    assert again == fresh  # ... and the typed rows survive the CSV exactly
    assert again[1].cell('mIoU').significant is True and again[1].status is lb.Status.LEARNED
    md = (out / 'leaderboard.md').read_text().rstrip('\n').split('\n')
    assert lb.markdown(rows, header, metrics) == md == lb.render_markdown(
        str(out / 'leaderboard.csv'))


def test_costs_from_an_earlier_leaderboard_rebuild_it_byte_for_byte(tmp_path):
    """--costs-from: a leaderboard rebuilt from its run rows with the costs (and header) of the
    committed one is the same files, and nothing is timed."""
    base = 'fcn_bundled'
    for seed in range(3):
        _run(tmp_path, base, seed, {'mIoU': 50.0 + seed}, base)
        _run(tmp_path, 'head_bundled', seed, {'mIoU': 55.0 + 2 * seed}, base)
    dirs = [str(tmp_path / base), str(tmp_path / 'head_bundled')]
    first = tmp_path / 'first'
    runs = lb.collect_runs(lb.expand_work_dirs(dirs))
    groups = lb.write(runs, str(first), 'python tools/leaderboard.py ...', metric='mIoU',
                      do_measure=False)
    # stand-in costs as a measuring run would have written them
    cells, header = reporting.read_csv(str(first / 'leaderboard.csv'))
    for c, ms, ratio in zip(cells, ('12.5', '20.0'), ('1.0', '1.6')):
        c.update(params_m='1.25', gflops='0.5', input_shape='64x128', ms_per_img=ms,
                 time_x_baseline=ratio)
    reporting.write_csv(str(first / 'leaderboard.csv'), cells, list(cells[0]), header)
    first_rows, _ = lb.read(str(first / 'leaderboard.csv'))
    reporting.write_text(str(first / 'leaderboard.md'), lb.markdown(
        first_rows, header, ['mIoU']))
    second = tmp_path / 'second'
    _tool().main(dirs + ['--out-dir', str(second), '--metric', 'mIoU',
                         '--costs-from', str(first / 'leaderboard.csv')])
    for name in ('leaderboard.csv', 'leaderboard.md'):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    meta = yaml.safe_load((second / 'metafile.yml').read_text())
    assert meta['Models'][0]['Metadata']['Parameters'] == 1250000
    assert len(groups) == 2
