"""tools/rerender_artefacts.py: the committed learning tables and the cost report re-render
byte for byte from the committed run rows (nothing is trained or timed), and a changed row is
reported."""
import json
import shutil

from benchmarks import learning
from benchmarks.paths import repo_script


def test_learning_tables_and_cost_report_rerender_byte_identical(capsys):
    assert repo_script('tools/rerender_artefacts.py').main(['--only', 'learning', 'cost']) == 0
    out = capsys.readouterr().out
    assert 'same     docs/benchmarks/learning_seg_bundled.md' in out
    assert 'same     docs/benchmarks/benchmark_bundled_cost.csv' in out and 'DIFFERS' not in out


def test_a_changed_run_row_is_reported(tmp_path, monkeypatch, capsys):
    """The comparison can fail: one committed row with another box mAP makes its table
    differ."""
    from benchmarks import paths
    tool = repo_script('tools/rerender_artefacts.py')
    copy = tmp_path / 'repo'
    shutil.copytree(paths.ROOT + '/docs/benchmarks', copy / 'docs/benchmarks')
    row = next((copy / 'docs/benchmarks/runs/det').glob('*/seed0.json'))
    data = json.loads(row.read_text())
    data['metrics']['coco/bbox_mAP'] += 0.001
    row.write_text(json.dumps(data, indent=1) + '\n')
    monkeypatch.setattr(paths, 'ROOT', str(copy))
    monkeypatch.setattr(learning, 'ROOT', str(copy))
    assert tool.main(['--only', 'learning']) == 1
    assert 'DIFFERS  docs/benchmarks/learning_det_bundled.csv' in capsys.readouterr().out
