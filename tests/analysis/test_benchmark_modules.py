"""tools/benchmark_modules.py on tiny inputs, and the measurement helpers behind it."""
import csv
import importlib.util
from pathlib import Path

import torch

from attnplug.analysis.profiling import (cpu_peak_memory_supported, measure_latency,
                                         measure_peak_memory)

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location('attnplug_tool_benchmark_modules',
                                                  ROOT / 'tools' / 'benchmark_modules.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peak_memory_sees_torch_allocations():
    if not cpu_peak_memory_supported():
        return  # not Linux: the tool leaves the memory column empty
    mib = 64  # above glibc's largest dynamic mmap threshold (32 MiB): always its own mapping

    def two_live_tensors():
        a = torch.ones(mib * 2**20 // 4)
        b = a * 2
        return float(b[0])

    peak = measure_peak_memory(two_live_tensors)
    assert 1.8 * mib <= peak <= 2.5 * mib, peak


def test_latency_median_and_single_call():
    lat = measure_latency(lambda: sum(range(1000)), warmup=1, repeat=5, min_time_s=0.01)
    assert lat['calls'] >= 5 and not lat['single'] and lat['median_ms'] >= lat['min_ms'] > 0
    slow = measure_latency(lambda: __import__('time').sleep(0.05), max_first_s=0.01)
    assert slow['single'] and slow['calls'] == 1


def test_every_reference_builds():
    """mmcv/mmseg/mmdet references and attnplug modules all build at C=16."""
    tool = _tool()
    impls = tool.implementations()
    sources = {i.source for i in impls}
    assert {'attnplug', 'mmcv', 'mmseg', 'mmdet', 'naive'} <= sources
    for impl in impls:
        m = impl.build(16)
        x = torch.randn(1, 16, 5, 7)
        args = (x, torch.randn(1, 16, 3, 4)) if impl.gated_input else (x, )
        with torch.no_grad():
            assert m.eval()(*args).shape == x.shape, impl


def test_tool_writes_markdown_csv_png(tmp_path):
    tool = _tool()
    results = tool.main(['--families', 'SE', 'PAM', 'NonLocal', '--channels', '16', '--sizes',
                         '9x11', '--modes', 'fwd', 'fwd+bwd', '--dtypes', 'fp32',
                         '--repeat', '1', '--warmup', '1', '--max-case-seconds', '1e-6',
                         '--out-dir', str(tmp_path), '--tag', 'test'])
    assert len(results) == 2 * (3 + 2 + 2)
    assert all(r.status.startswith('ok') for r in results), [r.status for r in results]
    md = (tmp_path / 'modules_test.md').read_text()
    assert '2026-11-21' in md and torch.__version__ in md and 'benchmark_modules.py' in md
    assert '| PAM | PAM (mmseg) | 16 | 9x11 | fwd | fp32 |' in md
    rows = list(csv.reader((tmp_path / 'modules_test.csv').open()))
    assert rows[1][:3] == ['family', 'impl', 'source'] and len(rows) == 2 + len(results)
    assert (tmp_path / 'modules_test.png').stat().st_size > 5000


def test_dense_references_are_skipped_above_the_memory_limit(tmp_path):
    tool = _tool()
    (naive, ) = [i for i in tool.implementations() if i.source == 'naive']
    r = tool.run_case(naive, 16, '64x128', 'fwd', 'fp32', 'cpu', 2, 1, 1, max_mem_gb=0.5,
                      max_case_s=1.0)
    assert r.status.startswith('skipped') and r.median_ms is None
