"""The conformance matrix (docs/conformance.json, its table in docs/modules.md) written by
``python tools/conformance.py``: it covers every registered layer and head, every cell is a ✓
or a stated reason, the committed table is rendered from the JSON, and a sample of modules
re-measured now gives the committed cells. Only checks: nothing here writes the docs."""
import json
import re
from pathlib import Path

import pytest

from attnplug.testing import repo_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def tool():
    return repo_script('tools/conformance.py')


@pytest.fixture(scope='module')
def data(tool):
    return json.loads(tool.JSON_PATH.read_text())


def _rows(data):
    return {row['module']: row for row in data['rows']}


def test_every_registered_layer_and_head_has_a_row(tool, data):
    from attnplug.layers.base import registered_layers
    import attnplug.models.decode_heads as heads
    rows = _rows(data)
    missing = (set(registered_layers()) | set(heads.__all__)) - set(rows)
    assert not missing, (f'{sorted(missing)} have no row: run python tools/conformance.py '
                         '(and commit docs/conformance.json and docs/modules.md)')
    # and nothing listed that is gone (a stale row)
    expected = {s.name for s in tool.subjects()}
    assert set(rows) == expected, sorted(set(rows) ^ expected)


def test_every_cell_is_a_tick_or_a_reason(tool, data):
    for row in data['rows']:
        assert set(row['cells']) == set(tool.COLUMNS), row['module']
        for col, cell in row['cells'].items():
            assert cell['status'] in ('pass', 'fail', 'value', 'none'), (row['module'], col)
            text = tool.Cell(**cell).render()
            if cell['status'] == 'pass':
                assert text.startswith('✓'), (row['module'], col)
            elif cell['status'] == 'value':
                assert cell['value'] is not None and cell['value'] >= 0, (row['module'], col)
            else:
                # a failure says why: an exception type or a measured difference
                assert len(cell['reason'].strip()) >= 8, (row['module'], col, cell)


def test_the_committed_table_is_rendered_from_the_json(tool, data):
    text = tool.DOC_PATH.read_text()
    assert tool.START in text and tool.END in text, 'docs/modules.md has no conformance block'
    block = text[text.index(tool.START):text.index(tool.END) + len(tool.END)]
    assert block == tool.render(data), (
        'docs/modules.md differs from docs/conformance.json: run python tools/conformance.py '
        '--render (never edit the block by hand)')
    for row in data['rows']:
        assert f"| `{row['module']}` |" in block


def test_the_readme_links_the_matrix():
    readme = (ROOT / 'README.md').read_text()
    assert re.search(r'\]\(docs/modules\.md#conformance-matrix\)', readme)
    assert '## Conformance matrix' in (ROOT / 'docs' / 'modules.md').read_text()


def test_render_shows_a_failure_with_its_reason(tool):
    """The renderer cannot turn a failure into a tick (negative control)."""
    bad = tool.Cell('fail', 'export: DispatchError: No ONNX function found for aten.foo')
    assert bad.render().startswith('✗ export: DispatchError')
    assert tool.Cell('pass').render() == '✓'


# A layer, a bounded drop-in head and the pure-PyTorch PSA head: re-measured, every column but
# torch.compile (timed separately below), against the committed cells.
SAMPLE = ('SqueezeExcitation', 'DNLHead', 'PSAHead')


@pytest.mark.parametrize('name', SAMPLE)
def test_a_sample_re_measures_as_committed(tool, data, name):
    subject = {s.name: s for s in tool.subjects()}[name]
    committed = _rows(data)[name]['cells']
    columns = [c for c in tool.COLUMNS if c != 'compile']
    now = tool.measure(subject, columns)
    for col in columns:
        assert now[col].status == committed[col]['status'], (name, col, now[col])
        if now[col].status == 'value':
            assert now[col].value == pytest.approx(committed[col]['value'], rel=1e-6)
        elif col == 'provenance':
            assert now[col].reason == committed[col]['reason']


def test_compile_column_re_measures_for_one_module(tool, data):
    subject = {s.name: s for s in tool.subjects()}['SqueezeExcitation']
    cell = tool.measure(subject, ('compile', ))['compile']
    assert cell.status == _rows(data)['SqueezeExcitation']['cells']['compile']['status']


def test_a_quadratic_module_is_measured_as_quadratic(tool):
    """Negative control of the 'largest' column: mmseg's NLHead builds the N×N map."""
    subject = {s.name: s for s in tool.subjects()}['mmseg.NLHead']
    cell = tool.measure(subject, ('largest', ))['largest']
    assert cell.status == 'value' and cell.value >= 1.0
