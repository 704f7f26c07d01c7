"""Latency and peak-memory measurement shared by every benchmark tool (modules, heads,
detection plugins, leaderboard): the one peak-memory probe of the project.

Latency: the median of timed calls after warm-up calls (CUDA calls synchronise before the
clock is read). Cheap calls get more repeats, so one scheduler hiccup on a shared machine does
not decide the median. ``clock='cpu'`` reads the CPU time of the process
(``time.process_time``, all threads) instead of the wall clock: on a machine shared with other
jobs the wall time follows their load, the CPU time much less so (it still grows with contention
for caches and memory bandwidth).

Peak memory of one call, above what was allocated before it:

* CUDA: ``torch.cuda.max_memory_allocated()`` after ``reset_peak_memory_stats()``;
* CPU: ``tracemalloc`` does not see torch's allocations and torch has no CPU allocator
  statistics, so the process's peak resident set is used: ``/proc/self/clear_refs`` (writing
  ``5``) resets ``VmHWM`` to the current ``VmRSS``, the call runs, and ``VmHWM - VmRSS(before)``
  is its peak growth. This is only faithful if freed tensors leave the resident set, which
  glibc does for blocks it ``mmap``s: run the process with ``MALLOC_MMAP_THRESHOLD_=65536``
  (:data:`MMAP_ENV`: every block over 64 KiB gets its own mapping and the threshold no longer
  adapts upward; the benchmark tools restart themselves with it, ``benchmarks/relaunch.py``).
  Checked here: two live 200 MiB tensors read as 400 MiB, and the resident set returns to its
  base when they are freed. Linux only; elsewhere the memory column is empty.
"""
import ctypes
import gc
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

__all__ = ['MMAP_ENV', 'measure_latency', 'measure_peak_memory', 'cpu_peak_memory_supported',
           'PeakMemoryProbe', 'CLOCKS', 'timed_calls']

#: The clocks :func:`measure_latency` can read.
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}

#: The glibc setting that makes freed tensors leave the resident set (see above).
MMAP_ENV = 'MALLOC_MMAP_THRESHOLD_'


def _status_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def cpu_peak_memory_supported() -> bool:
    return _status_kib('VmHWM:') is not None and _reset_peak_rss()


def _malloc_trim() -> None:
    """Give glibc's free heap pages back, so the baseline resident set is the live one."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemoryProbe:
    """Peak memory of calls above a baseline taken when the probe is made, in MiB.

    CUDA: ``max_memory_allocated()`` growth over ``memory_allocated()`` at construction.
    CPU: ``VmHWM`` growth over ``VmRSS`` at construction, the peak being reset before each call
    (``/proc/self/clear_refs``); where that is refused, ``ru_maxrss``, which cannot be reset and
    so also counts any transient before the probe (:attr:`method` says which).

    Use::

        probe = PeakMemoryProbe('cpu')   # after the module and inputs exist
        probe.begin(); fn(); peak_mib = probe.end()
    """

    def __init__(self, device: str = 'cpu'):
        self.device = device
        gc.collect()
        _malloc_trim()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
            self.base = torch.cuda.memory_allocated() / 2**20
            self.method = 'cuda max_memory_allocated'
        else:
            self.base = (_status_kib('VmRSS:') or 0) / 1024
            self.method = ('VmHWM reset' if _status_kib('VmHWM:') is not None
                           and _reset_peak_rss() else 'ru_maxrss (not resettable)')

    def begin(self) -> None:
        gc.collect()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif self.method == 'VmHWM reset':
            _reset_peak_rss()

    def end(self) -> float:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            return max(0., torch.cuda.max_memory_allocated() / 2**20 - self.base)
        if self.method == 'VmHWM reset':
            return max(0., _status_kib('VmHWM:') / 1024 - self.base)
        import resource
        return max(0., resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - self.base)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _clock(caller: str, clock: str) -> Callable[[], float]:
    if clock not in CLOCKS:
        raise ValueError(f'{caller}: clock={clock!r}; expected one of {sorted(CLOCKS)}')
    return CLOCKS[clock]


def _timed_call(fn: Callable[[], object], device: str, read: Callable[[], float]) -> float:
    """Seconds of one call of ``fn`` on clock ``read``, CUDA work included."""
    t0 = read()
    fn()
    _sync(device)
    return read() - t0


def _warm_up(fn: Callable[[], object], device: str, read: Callable[[], float], warmup: int,
             max_first_s: Optional[float]) -> Tuple[float, Optional[Dict[str, object]]]:
    """Make the first call (timed) and the rest of the ``warmup`` calls.

    Returns the first call's seconds, and the figure to report when that call alone is the
    measurement (it took longer than ``max_first_s``; no further call is made), else None.
    """
    first = _timed_call(fn, device, read)
    if max_first_s is not None and first > max_first_s:
        return first, dict(median_ms=first * 1e3, min_ms=first * 1e3, calls=1, single=True)
    for _ in range(max(0, warmup - 1)):
        fn()
        _sync(device)
    return first, None


def _summary(times: List[float]) -> Dict[str, object]:
    return dict(median_ms=statistics.median(times) * 1e3, min_ms=min(times) * 1e3,
                calls=len(times), single=False)


def measure_latency(fn: Callable[[], object], device: str = 'cpu', warmup: int = 1,
                    repeat: int = 3, max_first_s: Optional[float] = None,
                    min_time_s: float = 1.0, max_calls: int = 50,
                    clock: str = 'wall') -> Dict[str, object]:
    """Time ``fn``.

    Args:
        fn: The call to time (it must do all the work: synchronisation is added here).
        device (str): 'cpu' or 'cuda[:i]'.
        warmup (int): Untimed calls first (at least the first call is made).
        repeat (int): At least this many timed calls; more (up to ``max_calls``) when they
            fit in ``min_time_s``.
        max_first_s (float, optional): If the first call takes longer, it is the only one.
        clock (str): ``'wall'`` (``time.perf_counter``) or ``'cpu'`` (``time.process_time``:
            the CPU time of this process, all threads; not meaningful for CUDA work).

    Returns:
        dict: ``median_ms``, ``min_ms``, ``calls`` and ``single`` (True when only the first
        call was timed).
    """
    read = _clock('measure_latency', clock)
    first, single = _warm_up(fn, device, read, warmup, max_first_s)
    if single is not None:
        return single
    calls = max(repeat, min(max_calls, int(min_time_s / max(first, 1e-6))))
    return _summary([_timed_call(fn, device, read) for _ in range(calls)])


def measure_interleaved(fns: Dict[str, Callable[[], object]], device: str = 'cpu',
                        warmup: int = 1, rounds: int = 5, max_first_s: Optional[float] = None,
                        clock: str = 'wall') -> Dict[str, Dict[str, object]]:
    """Time several calls side by side: after their warm-up, each round calls every ``fn``
    once, in turn, and a call's figure is its median over the rounds.

    On a shared machine the load drifts while a benchmark runs. Timed one after another,
    the first config can meet an idle machine and the last a busy one; timed in rounds, a
    drift reaches every call alike, so their ratios hold even when the absolute times move.

    Args:
        fns: The calls to time, by name (each must do all its work).
        device (str): 'cpu' or 'cuda[:i]'.
        warmup (int): Untimed calls of each ``fn`` first (at least the first call is made).
        rounds (int): Timed calls of each ``fn``.
        max_first_s (float, optional): A call whose first run takes longer is timed by that
            run alone and left out of the rounds.
        clock (str): ``'wall'`` or ``'cpu'``, as for :func:`measure_latency`.

    Returns:
        dict: per name, ``median_ms``, ``min_ms``, ``calls`` and ``single``, as
        :func:`measure_latency` gives them.
    """
    read = _clock('measure_interleaved', clock)
    if rounds < 1:
        raise ValueError(f'measure_interleaved: rounds={rounds}; expected at least 1')
    out: Dict[str, Dict[str, object]] = {}
    times: Dict[str, List[float]] = {}
    for name, fn in fns.items():
        _, single = _warm_up(fn, device, read, warmup, max_first_s)
        if single is not None:
            out[name] = single
        else:
            times[name] = []
    for _ in range(rounds):
        for name in times:
            times[name].append(_timed_call(fns[name], device, read))
    out.update({name: _summary(ts) for name, ts in times.items()})
    return {name: out[name] for name in fns}


def measure_peak_memory(fn: Callable[[], object], device: str = 'cpu') -> Optional[float]:
    """Peak memory of one call of ``fn`` above the memory in use before it, in MiB (None
    where it cannot be measured: a CPU without a resettable peak)."""
    probe = PeakMemoryProbe(device)
    if probe.method.startswith('ru_maxrss'):
        return None
    probe.begin()
    fn()
    return probe.end()


def timed_calls(fn: Callable[[], object], device: str = 'cpu', warmup: int = 1,
                repeats: int = 3, keep_last: bool = False) -> Dict[str, object]:
    """Call ``fn`` ``warmup + repeats`` times, each as a measurement of its own: the wall and
    process-CPU seconds of the timed calls (CUDA work included) and the peak memory growth of
    every call (:class:`PeakMemoryProbe`; a call's output is dropped before the next starts).

    Returns a dict: ``times``, ``cpu_times`` (seconds, timed calls), ``peak_mib`` (max over
    all calls), ``mem_method``, ``threads`` and, with ``keep_last``, ``out``: the last call's
    output.
    """
    probe = PeakMemoryProbe(device)
    times, cpu_times, peaks, out = [], [], [], None
    for i in range(warmup + repeats):
        out = None
        probe.begin()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        _sync(device)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        peaks.append(probe.end())
        if i >= warmup:
            times.append(dt)
            cpu_times.append(cpu)
    res = dict(times=times, cpu_times=cpu_times, peak_mib=max(peaks), mem_method=probe.method,
               threads=torch.get_num_threads())
    if keep_last:
        res['out'] = out
    return res
