"""The faithfulness column of docs/modules.md (tools/faithfulness.py) agrees with the golden
records: one row per record file under tests/golden/authors/, made from that very file, each
compared by a test within its tolerance, and the doc block rendered from docs/faithfulness.json.
It only reads; after adding or remaking a record run ``python tools/faithfulness.py``."""
import json

from attnplug.testing import load_golden, repo_script

HINT = 'run python tools/faithfulness.py'


def _tool_and_rows():
    tool = repo_script('tools/faithfulness.py')
    return tool, json.loads(tool.JSON_PATH.read_text())


def test_every_record_has_its_row():
    tool, payload = _tool_and_rows()
    records = {str(p.relative_to(tool.ROOT)) for p in tool.RECORDS.glob('*.pt')}
    rows = {r['record'] for r in payload['rows']}
    assert records, 'no golden record found'
    assert rows == records, f'records without a row: {sorted(records - rows)}; rows without a ' \
                            f'record: {sorted(rows - records)}; {HINT}'


def test_rows_are_made_from_the_current_records():
    tool, payload = _tool_and_rows()
    for row in payload['rows']:
        path = tool.ROOT / row['record']
        assert row['sha256'] == tool.sha256(path), f"{row['record']} changed since; {HINT}"
        prov = load_golden(path)['provenance']
        assert row['reference'] == tool.reference(prov)
        assert row['departures'] == prov.get('departures', '')


def test_every_record_is_compared_within_its_tolerance():
    tool, payload = _tool_and_rows()
    for row in payload['rows']:
        assert row['tested'], f"no test compares {row['record']} (assert_matches_golden)"
        modes = set(load_golden(tool.ROOT / row['record'])['outputs'])
        assert set(row['diffs']) == modes, f"{row['record']}: compared in {sorted(row['diffs'])}"
        assert row['max_diff'] <= row['atol'], row['record']


def test_every_registered_layer_is_held_to_a_reference():
    """Issue 23's rule: each registered family has a golden test against its authors' code (or
    the OpenMMLab module, where theirs does not run here)."""
    from attnplug.layers.base import registered_layers
    _, payload = _tool_and_rows()
    compared = {m for row in payload['rows'] for m in row['modules']}
    missing = sorted(set(registered_layers()) - compared)
    assert not missing, f'no golden record compares {missing}; {HINT} after adding one'


def test_the_doc_block_is_rendered_from_the_json():
    tool, payload = _tool_and_rows()
    text = tool.DOC.read_text()
    assert tool.current_block(text) == tool.render(payload['rows']), \
        f'docs/modules.md: the faithfulness block disagrees with docs/faithfulness.json; {HINT}'
    assert payload['generated']['command'] == tool.COMMAND


def test_the_tool_matches_comparisons_to_record_files(tmp_path, monkeypatch):
    """What the tool does with what the golden tests report: a record compared by a test gets
    its largest difference, a record nobody compares is marked untested."""
    import shutil

    import torch

    from attnplug import testing
    from attnplug.layers import SCSE
    tool = repo_script('tools/faithfulness.py')
    for name in ('a.pt', 'b.pt'):
        shutil.copy(tool.RECORDS / 'scse.pt', tmp_path / name)
    monkeypatch.setattr(tool, 'RECORDS', tmp_path)
    monkeypatch.setattr(tool, 'ROOT', tmp_path)
    seen = []
    monkeypatch.setattr(testing, '_GOLDEN_OBSERVERS', [seen.append])
    record = testing.load_golden(tmp_path / 'a.pt')
    module = SCSE(32, fusion='max')
    keys = {'cSE.fc1.': 'channel_fc1.', 'cSE.fc2.': 'channel_fc2.', 'sSE.conv.': 'spatial_conv.'}
    testing.assert_matches_golden(module, record,
                                  testing.map_golden_state_dict(module, record['state_dict'], keys))
    assert [obs['path'] for obs in seen] == [str(tmp_path / 'a.pt')]
    rows = tool.build_rows(seen)
    assert [(r['record'], r['tested']) for r in rows] == [('a.pt', True), ('b.pt', False)]
    assert rows[0]['max_diff'] == max(seen[0]['diffs'].values()) <= 1e-5
    assert rows[0]['attnplug'] == "SCSE(fusion='max')"
    table = tool.render(rows)
    assert table.count('**untested**') == 1 and torch.is_tensor(record['inputs'][0])
