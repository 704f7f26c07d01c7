"""tools/benchmark_modules.py on tiny inputs, and the measurement helpers behind it."""
import csv
import datetime
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from attnplug.analysis import profiling
from attnplug.analysis.profiling import (PeakMemoryProbe, cpu_peak_memory_supported,
                                         measure_interleaved, measure_latency,
                                         measure_peak_memory, timed_calls)
from benchmarks import module_benchmark
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    return repo_script('tools/benchmark_modules.py')


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


def test_peak_memory_probe_over_repeated_calls():
    if not cpu_peak_memory_supported():
        return
    probe = PeakMemoryProbe('cpu')
    peaks = []
    for mib in (64, 128):
        probe.begin()
        t = torch.ones(mib * 2**20 // 4)
        peaks.append(probe.end())
        del t
    assert probe.method == 'VmHWM reset'
    assert 0.9 * 64 <= peaks[0] <= 1.5 * 64 and 0.9 * 128 <= peaks[1] <= 1.5 * 128, peaks


@pytest.mark.skipif(not cpu_peak_memory_supported(), reason='needs a resettable CPU peak')
def test_timed_calls_measure_each_call_on_its_own():
    """A call's output is dropped before the next call: the peak is one call's (64 MiB),
    not the sum of all; the timed calls exclude the warm-up."""
    sizes = iter([16, 64, 32, 32])

    def call():
        return torch.ones(next(sizes) * 2**20 // 4)

    res = timed_calls(call, 'cpu', warmup=1, repeats=3, keep_last=True)
    assert len(res['times']) == len(res['cpu_times']) == 3 and min(res['times']) > 0
    assert 0.9 * 64 <= res['peak_mib'] <= 1.5 * 64, res['peak_mib']
    assert res['out'].numel() == 32 * 2**20 // 4 and res['mem_method'] == 'VmHWM reset'
    assert 'out' not in timed_calls(lambda: None, 'cpu', warmup=0, repeats=1)


def test_cpu_clock_leaves_out_sleeping():
    """The CPU clock counts work, not waiting: a sleep costs wall time but no CPU time."""
    wall = measure_latency(lambda: time.sleep(0.02), repeat=2, min_time_s=0)
    cpu = measure_latency(lambda: time.sleep(0.02), repeat=2, min_time_s=0, clock='cpu')
    assert wall['median_ms'] >= 15 and cpu['median_ms'] < 5
    with pytest.raises(ValueError, match='clock'):
        measure_latency(lambda: None, clock='gpu')


def test_latency_median_and_single_call():
    lat = measure_latency(lambda: sum(range(1000)), warmup=1, repeat=5, min_time_s=0.01)
    assert lat['calls'] >= 5 and not lat['single'] and lat['median_ms'] >= lat['min_ms'] > 0
    slow = measure_latency(lambda: __import__('time').sleep(0.05), max_first_s=0.01)
    assert slow['single'] and slow['calls'] == 1


class _DriftingMachine:
    """A fake clock on which a call costs its own work times the machine's load, and the
    load doubles halfway through: what a neighbour starting a job does to a shared core."""

    def __init__(self, switch_after: int):
        self.now, self.calls, self.switch_after, self.log = 0.0, 0, switch_after, []

    def clock(self):
        return self.now

    def work(self, name, cost):
        def call():
            self.calls += 1
            self.log.append(name)
            self.now += cost * (1 if self.calls <= self.switch_after else 2)
        return call


def test_interleaved_rounds_keep_ratios_under_a_load_drift(monkeypatch):
    """Timed one after the other, the second call meets the busier machine and looks twice
    as slow as it is; in interleaved rounds both meet the same drift and keep their 1:1.5
    ratio. The call order is warm-ups per call, then one call of each per round."""
    machine = _DriftingMachine(switch_after=8)
    monkeypatch.setitem(profiling.CLOCKS, 'wall', machine.clock)
    a, b = machine.work('a', 0.010), machine.work('b', 0.015)
    seq_a = measure_latency(a, warmup=2, repeat=3, min_time_s=0)['median_ms']
    seq_b = measure_latency(b, warmup=2, repeat=3, min_time_s=0)['median_ms']
    assert seq_b / seq_a == pytest.approx(3.0)  # the drift, not the models

    machine = _DriftingMachine(switch_after=12)
    monkeypatch.setitem(profiling.CLOCKS, 'wall', machine.clock)
    a, b = machine.work('a', 0.010), machine.work('b', 0.015)
    lat = measure_interleaved({'a': a, 'b': b}, warmup=2, rounds=5)
    assert machine.log == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 5
    assert lat['b']['median_ms'] / lat['a']['median_ms'] == pytest.approx(1.5)
    assert lat['a']['calls'] == lat['b']['calls'] == 5 and not lat['a']['single']
    assert list(lat) == ['a', 'b']


def test_interleaved_slow_first_call_and_bad_arguments():
    lat = measure_interleaved({'slow': lambda: time.sleep(0.05), 'fast': lambda: None},
                              max_first_s=0.01, rounds=2)
    assert lat['slow']['single'] and lat['slow']['calls'] == 1
    assert lat['fast']['calls'] == 2 and not lat['fast']['single']
    with pytest.raises(ValueError, match='measure_interleaved: clock'):
        measure_interleaved({'a': lambda: None}, clock='gpu')
    with pytest.raises(ValueError, match='rounds=0'):
        measure_interleaved({'a': lambda: None}, rounds=0)


def test_modules_come_from_the_registry(monkeypatch):
    """Every layer attnplug registers is benchmarked, and a newly registered one appears
    without an edit of the tool (the contributor's path of docs/contributing.md)."""
    import attnplug.layers  # noqa: F401
    from attnplug.registry import MODELS
    names = {i.family for i in module_benchmark.implementations()}
    registered = {n for n, c in MODELS.module_dict.items()
                  if c.__module__.startswith('attnplug.layers')}
    assert names == registered and {'CBAM', 'PositionAttention', 'SqueezeExcitation'} <= names

    from attnplug.layers.base import AttentionModule

    class ToyGate(AttentionModule):
        """A stand-in for a new layer file: the layer convention, shape-preserving."""

        def __init__(self, in_channels):
            super().__init__(in_channels)
            self.fc = nn.Conv2d(in_channels, in_channels, 1)

        def forward(self, x):
            return x * self.fc(x).sigmoid()

    ToyGate.__module__ = 'attnplug.layers.toy_gate'
    MODELS.register_module(module=ToyGate)
    try:
        impls = [i for i in module_benchmark.implementations() if i.family == 'ToyGate']
        assert len(impls) == 1 and impls[0].source == 'attnplug'
        r = module_benchmark.run_case(impls[0], 8, '5x7', 'fwd', 'fp32', 'cpu', 1, 1, 1, 1.0,
                                      1.0, min_time_s=0)
        assert r.status == 'ok' and r.params == 8 * 8 + 8
    finally:
        MODELS._module_dict.pop('ToyGate')


def test_every_reference_builds():
    """mmcv/mmseg/mmdet references and attnplug modules all build at C=16."""
    impls = module_benchmark.implementations()
    sources = {i.source for i in impls}
    assert {'attnplug', 'mmcv', 'mmseg', 'mmdet', 'naive'} <= sources
    for impl in impls:
        m = impl.build(16)
        x = torch.randn(1, 16, 5, 7)
        args = m.example_inputs(1, 5, 7) if hasattr(m, 'example_inputs') else (x, )
        with torch.no_grad():
            assert m.eval()(*args).shape == x.shape, impl


def test_tool_writes_markdown_csv_png(tmp_path):
    tool = _tool()
    results = tool.main(['--families', 'SqueezeExcitation', 'PositionAttention', 'NonLocal2d',
                         '--channels', '16', '--sizes',
                         '9x11', '--modes', 'fwd', 'fwd+bwd', '--dtypes', 'fp32',
                         '--repeat', '1', '--warmup', '1', '--max-case-seconds', '1e-6',
                         '--out-dir', str(tmp_path), '--tag', 'test'])
    assert len(results) == 2 * (3 + 2 + 2)
    assert all(r.status.startswith('ok') for r in results), [r.status for r in results]
    md = (tmp_path / 'modules_test.md').read_text()
    today = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    assert f'**date**: {today}' in md  # the run's real date
    assert torch.__version__ in md and 'benchmark_modules.py' in md
    assert '| PositionAttention | PAM (mmseg) | 16 | 9x11 | fwd | fp32 |' in md
    rows = list(csv.reader((tmp_path / 'modules_test.csv').open()))
    assert rows[1][:3] == ['family', 'impl', 'source'] and len(rows) == 2 + len(results)
    assert (tmp_path / 'modules_test.png').stat().st_size > 5000


def test_dense_references_are_skipped_above_the_memory_limit(tmp_path):
    (naive, ) = [i for i in module_benchmark.implementations() if i.source == 'naive']
    r = module_benchmark.run_case(naive, 16, '64x128', 'fwd', 'fp32', 'cpu', 2, 1, 1, max_mem_gb=0.5,
                      max_case_s=1.0)
    assert r.status.startswith('skipped') and r.median_ms is None
