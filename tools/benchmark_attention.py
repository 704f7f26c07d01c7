"""Time attnplug.functional.attention's backends on this machine (not a test).

Each case runs in a fresh subprocess; its peak memory is the growth of the peak resident set
over the state just before the calls (:class:`attnplug.analysis.profiling.PeakMemoryProbe`), and
its time the best of ``--repeat`` runs, because the machine may be shared.

    python tools/benchmark_attention.py            # forward, no grad: the dispatch table
    python tools/benchmark_attention.py --grad     # forward + backward, block recomputation on/off
"""
import argparse
import importlib
import json
import subprocess
import sys
import time

MIB = 2**20


def run_case(n, dk, dv, method, grad=False, ckpt=True, budget=256 * MIB, repeat=3):
    import torch
    import torch.nn.functional as F
    mod = importlib.import_module('attnplug.functional.bounded_attention')
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 1, n, dk), torch.randn(1, 1, n, dk), torch.randn(1, 1, n, dv)
    if grad:
        for t in (q, k, v):
            t.requires_grad_()
    scale = dk**-0.5

    def call():
        if method == 'naive':
            return torch.softmax(q @ k.transpose(-2, -1) * scale, -1) @ v
        if method == 'sdpa':
            return F.scaled_dot_product_attention(q, k, v)
        if method == 'sdpa-split':  # v split into dv/dk heads of dk, q and k shared
            h = dv // dk
            o = F.scaled_dot_product_attention(q.expand(1, h, n, dk), k.expand(1, h, n, dk),
                                               v.reshape(1, n, h, dk).transpose(1, 2))
            return o.transpose(1, 2).reshape(1, 1, n, dv)
        if method in ('chunked', 'chunked_sdpa'):  # exact query blocks (math / SDPA)
            return mod.attention(q, k, v, backend=method, memory_budget=budget,
                                 checkpoint_blocks=ckpt)
        if method == 'auto':
            return mod.attention(q, k, v, memory_budget=budget, checkpoint_blocks=ckpt)
        raise ValueError(method)

    from attnplug.analysis.profiling import PeakMemoryProbe
    probe = PeakMemoryProbe('cpu')
    times, peaks = [], []
    for _ in range(repeat):
        probe.begin()
        t0 = time.perf_counter()
        if grad:
            call().square().sum().backward()
        else:
            with torch.no_grad():
                call()
        times.append(time.perf_counter() - t0)
        peaks.append(probe.end())
    return dict(n=n, dv=dv, method=method, grad=grad, ckpt=ckpt, budget_mib=budget // MIB,
                seconds=round(min(times), 3), peak_mib=round(max(peaks)), mem_method=probe.method)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--grad', action='store_true')
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--case', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        print(json.dumps(run_case(**json.loads(a.case))))
        return
    if a.grad:
        cases = [dict(n=8192, dk=64, dv=dv, method='chunked', grad=True, ckpt=c, budget=32 * MIB)
                 for dv in (64, 512) for c in (False, True)]
        cases += [dict(n=n, dk=64, dv=64, method=m, grad=True) for n in (4096, 8192)
                  for m in ('naive', 'sdpa', 'chunked')]
        cases += [dict(n=8192, dk=64, dv=512, method=m, grad=True) for m in ('naive', 'sdpa')]
    else:
        cases = []
        for n in (4096, 16384):
            for dv in (64, 512):
                ms = ['naive', 'sdpa', 'chunked'] + (['sdpa-split'] if dv != 64 else
                                                     ['chunked_sdpa'])
                cases += [dict(n=n, dk=64, dv=dv, method=m) for m in ms]
    for c in cases:
        c['repeat'] = a.repeat
        r = subprocess.run([sys.executable, __file__, '--case', json.dumps(c)],
                           capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr.strip()[-500:], flush=True)


if __name__ == '__main__':
    main()
