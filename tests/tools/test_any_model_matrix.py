"""tools/any_model_matrix.py: the support matrix of WithPlugins in docs/any_model.md is the
tool's output. A sample of rows is re-run here and must equal the committed table's rows."""
from pathlib import Path

import pytest

from attnplug.testing import repo_script

pytest.importorskip('mmseg.models')
pytest.importorskip('mmdet.models')
pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / 'docs' / 'any_model.md'
#: The classes issue 25 found failing before (token blocks without H x W, a class token, BEiT's
#: fixed input size, MSCAN's block(x, H, W)), which the tool checks first.
SAMPLE = ('VisionTransformer', 'BEiT', 'MSCAN')


def _tool():
    return repo_script('tools/any_model_matrix.py')


def _doc_rows():
    text = DOC.read_text()
    tool = _tool()
    assert tool.START in text and tool.END in text, 'docs/any_model.md has no generated matrix'
    block = text[text.index(tool.START):text.index(tool.END)]
    return [line for line in block.splitlines() if line.startswith('| mm')]


def test_sampled_rows_equal_the_committed_table():
    tool = _tool()
    rows = tool.main(['--only', *SAMPLE])
    assert {r.model for r in rows} == set(SAMPLE) and len(rows) == len(SAMPLE) * 2
    committed = _doc_rows()
    for row in rows:
        assert tool.table_row(row) in committed, tool.table_row(row)
    # the classes that failed before this issue are green now
    assert all(r.green for r in rows), [tool.table_row(r) for r in rows if not r.green]


def test_table_covers_registered_classes_only_and_says_if_partial():
    tool = _tool()
    registered = {(p, k, n) for p, k, n, _ in tool.registered()}
    assert len(registered) >= 70  # mmseg 1.2.2 + mmdet 3.3.0 backbones and necks
    committed = _doc_rows()
    seen = {tuple(c.strip() for c in line.split('|')[1:4]) for line in committed}
    assert seen and seen <= registered
    text = DOC.read_text()
    if len(committed) < 2 * len(registered):
        assert '**partial' in text


def test_status_and_render():
    tool = _tool()
    ok = tool.Row('mmseg', 'backbone', 'X', 'CBAM', keys=tool.Status.PASS,
                  identity=tool.Status.NA, fwd_bwd=tool.Status.PASS, onnx=tool.Status.PASS)
    bad = tool.Row('mmseg', 'backbone', 'Y', 'CBAM', keys=tool.Status.PASS,
                   identity=tool.Status.NA, fwd_bwd=tool.Status.PASS, onnx=tool.Status.FAIL,
                   reason='onnx: a | b')
    assert ok.green and not bad.green
    assert tool.Row.from_json(bad.to_json()) == bad
    text = tool.render([ok, bad], dict(date='d', device='c', command='cmd', mmpretrain='m'), 4)
    assert 'all checks green: 1' in text and '**partial' in text
    assert 'a \\| b' in text  # a reason cannot break the table
