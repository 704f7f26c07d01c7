"""tools/benchmark_heads.py end to end at a tiny size: one subprocess per case, rows for both
implementations of every head, outputs equal to mmseg's. No timing assertions."""
import csv

import pytest

HEADS = ('DAHead', 'NLHead', 'CCHead')


@pytest.fixture(scope='module')
def report(tmp_path_factory, python_runner, repo_root):
    out = tmp_path_factory.mktemp('heads') / 'heads_cpu_tiny'
    python_runner([repo_root / 'tools' / 'benchmark_heads.py', '--quick', '--size', '12', '20',
                   '--in-channels', '64', '--channels', '16', '--repeats', '1',
                   '--tune-heads', 'da', '--tune-budgets', '0.01', '--out', out])
    with open(f'{out}.csv') as f:
        rows = list(csv.DictReader(f))
    with open(f'{out}.md') as f:
        md = f.read()
    return rows, md


def test_csv_has_both_implementations_of_every_head(report):
    rows, _ = report
    assert not [r for r in rows if r['error']]
    for head in HEADS:
        assert {r['impl'] for r in rows if r['head'] == head} == {'mmseg', 'attnplug'}
    for r in rows:
        assert float(r['peak_mib']) >= 0 and float(r['latency_s']) > 0
        assert len(r['times_s'].split()) == 1  # --repeats 1, the warm-up is not timed


def test_outputs_equal_mmseg(report):
    rows, _ = report
    ours = [r for r in rows if r['impl'] == 'attnplug']
    # default DA, a 0.01 MiB budget DA (10-row query blocks: the chunked path), NL, CC
    assert len(ours) == 4
    for r in ours:
        assert float(r['max_abs_diff']) < 1e-4, r
    assert all(float(r['max_abs_diff']) == 0 for r in rows if r['impl'] == 'mmseg')


def test_markdown_report(report):
    _, md = report
    assert '--size 12 20' in md and 'torch ' in md and '- date: ' in md
    table = [ln for ln in md.splitlines() if ln.startswith('| ') and 'Head |' in ln]
    assert len(table) == 7  # 3 mmseg + 4 attnplug rows
    assert any('budget=0.01 MiB' in ln for ln in table)
