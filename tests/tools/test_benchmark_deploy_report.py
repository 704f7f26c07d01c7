"""tools/benchmark_deploy.py's report (benchmarks/deploy_benchmark.py): the committed
deploy_cpu.md/.csv are what its JSON renders to, and the report says where each number came
from."""
import json
from pathlib import Path

from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return repo_script('tools/benchmark_deploy.py')


def test_committed_report_is_its_json_rendered(tmp_path):
    tool = _tool()
    committed = ROOT / 'docs' / 'benchmarks' / 'deploy_cpu'
    assert tool.main(['--render', str(committed) + '.json', '--out', str(tmp_path / 'r')]) == 0
    assert (tmp_path / 'r.md').read_text() == committed.with_suffix('.md').read_text()
    assert (tmp_path / 'r.csv').read_text() == committed.with_suffix('.csv').read_text()


def test_report_rows_and_header(tmp_path):
    from benchmarks import deploy_benchmark as tool
    from benchmarks import reporting
    meta = {'date': '2026-01-02 03:04 UTC', 'device': 'a CPU', 'command': 'python x',
            'shape': [64, 96], 'compile_shape': [32, 48]}
    rows = [dict(config='m', shape='64x96', n=96, loop='scan', export_s=1.5, nodes=7,
                 scan_nodes=1, nxn_values=0, largest_n_value=[1, 2, 96], largest_n_value_mib=0.1,
                 pytorch_peak_mib=10., onnxruntime_peak_mib=5., memory_ratio=0.5,
                 pytorch_latency_s=0.2, onnxruntime_latency_s=0.1, max_abs_diff=1e-6)]
    compile_rows = [dict(config='m', fullgraph=True, compile_s=3., eager_s=0.4, compiled_s=0.2,
                         max_abs_diff=0.)]
    dynamic = [dict(config='m', export_and_check_s=2.,
                    checks=[dict(shape=[32, 48], max_abs_diff=0., argmax_equal=1.0)]),
               dict(config='n', error='Unsupported: aten::foo')]
    tool.write_report(rows, compile_rows, meta, str(tmp_path / 'r'), dynamic)
    text = (tmp_path / 'r.md').read_text()
    assert '- date: 2026-01-02 03:04 UTC' in text and '- command: `python x`' in text
    assert '| m | scan | 96 | 2 | 7 (1) | 0 | 1×2×96 (0 MiB) | 10 | 5 | 0.50 |' in text
    assert '| m | True | 3 | 0.400 | 0.200 | 2.00 |' in text  # speed-up = eager / compiled
    assert '| n | — | — | failed: Unsupported: aten::foo | — |' in text
    csv_rows, header = reporting.read_csv(str(tmp_path / 'r.csv'))
    assert header['date'] == meta['date'] and csv_rows[0]['memory_ratio'] == '0.5'
    assert json.loads((tmp_path / 'r.json').read_text())['meta'] == meta
