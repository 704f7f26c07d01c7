"""tools/benchmark_heads.py end to end at a tiny size: one subprocess per case, rows for both
implementations of every head, outputs equal to mmseg's (checked here from the saved outputs,
not from the tool's own comparison). No timing assertions."""
import pytest
import torch

from benchmarks import reporting

HEADS = ('DAHead', 'NLHead', 'CCHead')


@pytest.fixture(scope='module')
def report(tmp_path_factory, python_runner, repo_root):
    tmp = tmp_path_factory.mktemp('heads')
    out, outputs = tmp / 'heads_cpu_tiny', tmp / 'outputs'
    python_runner([repo_root / 'tools' / 'benchmark_heads.py', '--quick', '--size', '12', '20',
                   '--in-channels', '64', '--channels', '16', '--repeats', '1',
                   '--tune-heads', 'da', '--tune-budgets', '0.01', '--out', out,
                   '--save-outputs', outputs])
    rows, header = reporting.read_csv(f'{out}.csv')
    with open(f'{out}.md') as f:
        md = f.read()
    return rows, header, md, outputs


def test_csv_has_both_implementations_of_every_head(report):
    rows, header, _, _ = report
    assert not [r for r in rows if r['error']]
    for head in HEADS:
        assert {r['impl'] for r in rows if r['head'] == head} == {'mmseg', 'attnplug'}
    for r in rows:
        assert float(r['peak_mib']) >= 0 and float(r['latency_s']) > 0
        assert len(r['times_s'].split()) == 1  # --repeats 1, the warm-up is not timed
    assert header['date'][:4].isdigit() and 'torch' in header['versions']


def test_outputs_equal_mmseg(report):
    """attnplug's output of every case against mmseg's output of the same head, both read
    from the files the cases saved: each head compared with the *other* implementation."""
    rows, _, _, outputs = report
    ours = [r for r in rows if r['impl'] == 'attnplug']
    # default DA, a 0.01 MiB budget DA (10-row query blocks: the chunked path), NL, CC
    assert len(ours) == 4
    for head in HEADS:
        (ref, ) = [r for r in rows if r['head'] == head and r['impl'] == 'mmseg']
        ref_out = torch.load(outputs / ref['output'], weights_only=True)
        assert ref_out.std() > 0  # a real output, not a constant map
        mine = [r for r in ours if r['head'] == head]
        assert mine
        for r in mine:
            assert r['output'] != ref['output']
            out = torch.load(outputs / r['output'], weights_only=True)
            torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-4)
            # the tool's reported difference is the difference of these two files
            assert float(r['max_abs_diff']) == pytest.approx(
                float((out - ref_out).abs().max()), rel=1e-3, abs=1e-9)


def test_markdown_report(report):
    _, _, md, _ = report
    assert '--size 12 20' in md and 'torch ' in md and '- date: ' in md
    assert 'CPU time (s)' in md and 'time vs mmseg' in md
    table = [ln for ln in md.splitlines() if ln.startswith('| ') and 'Head |' in ln]
    assert len(table) == 7  # 3 mmseg + 4 attnplug rows
    assert any('budget=0.01 MiB' in ln for ln in table)


def test_markdown_renders_from_the_csv_alone(report, tmp_path):
    """The report is a function of its CSV: rendering the CSV again gives the same text."""
    from benchmarks.head_benchmark import render_markdown
    rows, header, md, _ = report
    path = reporting.write_csv(str(tmp_path / 'heads_cpu_tiny.csv'), rows, list(rows[0]), header)
    assert '\n'.join(render_markdown(path)).rstrip() == md.rstrip()
