"""tools/leaderboard.py on a fabricated work dir (tiny model) plus a published entry."""
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location('attnplug_tool_leaderboard',
                                                  ROOT / 'tools' / 'leaderboard.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


def test_leaderboard_outputs(work_dir, tmp_path):
    published = tmp_path / 'published.yml'
    published.write_text(yaml.safe_dump([{
        'name': 'danet_r50-d8_4xb2-40k_cityscapes-512x1024', 'published': True,
        'source': 'https://github.com/open-mmlab/mmsegmentation/tree/main/configs/danet',
        'metrics': {'mIoU': 78.74}, 'memory_gb': 7.4, 'fps': 2.66, 'hardware': 'V100'}]))
    out = tmp_path / 'lb'
    rows = _tool().main([str(work_dir), '--published', str(published), '--out-dir', str(out),
                         '--shape', '64', '128'])
    measured = [r for r in rows if not r['published']]
    assert len(measured) == 1 and len(rows) == 2
    r = measured[0]
    assert r['metrics']['mIoU'] == 42.5 and r['source'].startswith('test')
    assert r['gflops'] > 0 and r['params_m'] > 0 and r['fps'] > 0
    assert r['input_shape'] == '64x128'
    md = (out / 'leaderboard.md').read_text()
    assert 'published' in md and 'github.com/open-mmlab' in md and '42.50' in md
    assert (out / 'leaderboard.csv').read_text().count('\n') == 3
    assert (out / 'leaderboard.png').stat().st_size > 1000
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
    """mmdet's CocoMetric returns no metric at all when the model detects nothing; the row must
    say that, not look like a run whose results went missing."""
    tool = _tool()
    run = tmp_path / 'wd' / 'test' / '20261121_000000'
    run.mkdir(parents=True)
    (run / '20261121_000000.json').write_text(json.dumps({'time': 0.1}))
    (tmp_path / 'wd' / 'other.log').write_text('')
    assert tool.test_metrics(str(tmp_path / 'wd')) == ({}, 'none')
    (run / '20261121_000000.log').write_text(
        'mmengine - ERROR - coco_metric.py - compute_metrics - 465 - '
        'The testing results of the whole dataset is empty.\n')
    metrics, origin = tool.test_metrics(str(tmp_path / 'wd'))
    assert metrics == {} and origin.startswith('test: no detections')


def test_plot_labels_drop_what_every_name_shares():
    labels = _tool().short_labels(['faster-rcnn_r18-eca-c2-c5_fpn_300iter_coco-bundled',
                                   'faster-rcnn_r18_fpn_300iter_coco-bundled',
                                   'faster-rcnn_r18-mhsa-c4-c5_fpn_300iter_coco-bundled'])
    assert labels == ['eca-c2-c5', 'faster-rcnn_r18_fpn_300iter_coco-bundled', 'mhsa-c4-c5']
    assert _tool().short_labels(['only_one']) == ['only_one']


def test_metafile_weights_inside_the_repository_are_repo_relative(tmp_path):
    tool = _tool()
    inside = ROOT / 'work_dirs' / 'x' / 'iter_300.pth'
    assert tool._repo_relative(str(inside)) == 'work_dirs/x/iter_300.pth'
    outside = tmp_path / 'iter_1.pth'
    assert tool._repo_relative(str(outside)) == str(outside)
    assert tool._repo_relative(None) is None
