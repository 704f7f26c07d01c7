"""Deployment benchmark: the exported ONNX graphs at 1024×2048 against attnplug's PyTorch run
(peak memory, latency, N×N check), and ``torch.compile`` against eager (not a test).

The library behind ``tools/benchmark_deploy.py``::

    python tools/benchmark_deploy.py                       # DANet + NL at 1024x2048, compile
    python tools/benchmark_deploy.py --configs configs/danet/...py --skip-compile
    python tools/benchmark_deploy.py --shape 256 512 --compile-shape 64 128   # quick

What is measured, per config (default: the bundled DANet and non-local segmentors, R-18-D8 at
half width, random weights with every zero-initialised gamma set non-zero so attention counts):

* **export**: ``tools/export_onnx.py``'s path (static shape ``--shape``, chunked attention as
  one ONNX ``Scan``, and with ``--loop unroll`` too for the graph size): the exporter's time,
  the file size, the node count (Scan bodies included) and the graph check: how many values
  have two dimensions equal to N = H·W/64 (an N×N map) and the largest value with an N
  dimension (one block of scores).
* **memory and latency at ``--shape``**: whole-image logits (``image -> logits``, the exported
  computation, pre-processing included), once with attnplug in PyTorch (eager,
  ``torch.inference_mode``) and once with onnxruntime (CPU provider, default arena), each in its
  own fresh subprocess, one after the other. Peak memory is the growth of the process's peak
  resident set (``VmHWM`` after ``/proc/self/clear_refs``) over its resident set after set-up
  (model built and loaded / session created, input made, a warm-up call at 128×256 for PyTorch
  so that one-off kernel set-up is not counted). Latency is one call (a 1024×2048 call takes
  tens of seconds on 2 cores): read it as indicative on a shared machine.
* **dynamic shape**: ``tools/export_onnx.py --dynamic-shape``'s path at ``--compile-shape``,
  the one graph checked against ``test_step`` there and at about twice that size.
* **torch.compile** at ``--compile-shape``: ``torch.compile(wrapper, fullgraph=True)``
  (inductor); first-call (compile) time, then the median of ``--repeats`` calls of eager and
  of the compiled model, and their largest output difference.

Outputs: ``<out>.json``, ``<out>.csv`` and ``<out>.md`` (date, device, versions, command),
written with :mod:`benchmarks.reporting` like the other benchmarks. Default
``--out docs/benchmarks/deploy_cpu``; ``--render JSON`` re-renders the .md and .csv from a JSON
it wrote (a test keeps the committed ones equal to that rendering).
"""
import contextlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

from .paths import ROOT

DEFAULT_CONFIGS = [
    'configs/danet/danet_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py',
    'configs/nonlocal_net/nonlocal_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py',
]


# ---------------------------------------------------------------- workers (own subprocess)
def worker(spec):
    import torch
    from attnplug.deploy import SegmentorForExport, load_model, make_image
    res = dict(kind=spec['kind'])
    if spec['kind'] == 'export':
        from attnplug.deploy import count_nodes, export_onnx, largest_value, quadratic_values
        model, _ = load_model(spec['config'], spec['checkpoint'])
        wrapper = SegmentorForExport(model).eval()
        t0 = time.perf_counter()
        export_onnx(wrapper, (make_image(spec['shape']), ), spec['onnx'], ['image'],
                    ['logits'], loop=spec['loop'])
        res['export_s'] = time.perf_counter() - t0
        n = spec['shape'][0] * spec['shape'][1] // 64
        counts = count_nodes(spec['onnx'])
        _, shape, numel = largest_value(spec['onnx'], containing=n)
        res.update(n=n, nxn_values=len(quadratic_values(spec['onnx'], n)),
                   nodes=sum(counts.values()), scan_nodes=counts.get('Scan', 0),
                   matmul_nodes=counts.get('MatMul', 0),
                   largest_n_value=[d if isinstance(d, int) else str(d) for d in shape],
                   largest_n_value_mib=numel * 4 / 2**20,
                   file_mib=osp.getsize(spec['onnx']) / 2**20)
        return res
    if spec['kind'] == 'dynamic':
        from attnplug.deploy import export_and_check
        t0 = time.perf_counter()
        rep = export_and_check(spec['config'], spec['checkpoint'], tuple(spec['shape']),
                               spec['onnx'], dynamic=True,
                               check_shape=tuple(spec['check_shape']))
        res.update(export_and_check_s=time.perf_counter() - t0,
                   checks=[dict(shape=c['shape'], max_abs_diff=c['max_abs_diff'],
                                argmax_equal=c['argmax_equal']) for c in rep['checks']])
        return res
    if spec['kind'] == 'compile':
        torch.manual_seed(0)
        model, _ = load_model(spec['config'], spec['checkpoint'])
        wrapper = SegmentorForExport(model).eval()
        x = make_image(spec['shape'])
        with torch.inference_mode():
            ref = wrapper(x)
            eager = []
            for _ in range(spec['repeats']):
                t0 = time.perf_counter()
                wrapper(x)
                eager.append(time.perf_counter() - t0)
        res['eager_s'] = statistics.median(eager)
        for fullgraph in (True, False):
            torch._dynamo.reset()
            compiled = torch.compile(wrapper, fullgraph=fullgraph)
            try:
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    out = compiled(x)
                    res['compile_s'] = time.perf_counter() - t0
                    times = []
                    for _ in range(spec['repeats']):
                        t0 = time.perf_counter()
                        out = compiled(x)
                        times.append(time.perf_counter() - t0)
            except Exception as e:  # report, then try without fullgraph
                res[f'error_fullgraph_{fullgraph}'] = f'{type(e).__name__}: {str(e)[:300]}'
                continue
            res.update(fullgraph=fullgraph, compiled_s=statistics.median(times),
                       max_abs_diff=float((out - ref).abs().max()))
            break
        return res
    # Memory and latency of one whole-image call.
    if spec['kind'] == 'pytorch':
        model, _ = load_model(spec['config'], spec['checkpoint'])
        wrapper = SegmentorForExport(model).eval()
        with torch.inference_mode():
            wrapper(make_image((128, 256)))  # one-off kernel/allocator set-up, small
        x = make_image(spec['shape'])

        def call():
            with torch.inference_mode():
                return wrapper(x).numpy()
    else:
        from attnplug.deploy import ort_session
        sess = ort_session(spec['onnx'])
        x = make_image(spec['shape']).numpy()

        def call():
            return sess.run(None, {'image': x})[0]
    from attnplug.analysis.profiling import PeakMemoryProbe
    probe = PeakMemoryProbe('cpu')  # resident set above the model and input, peak reset
    probe.begin()
    t0 = time.perf_counter()
    out = call()
    res['latency_s'] = time.perf_counter() - t0
    res.update(peak_mib=probe.end(), base_rss_mib=probe.base,
               peak_exact=probe.method == 'VmHWM reset', threads=torch.get_num_threads())
    import numpy as np
    np.save(spec['result'], out)
    return res


def launch(spec, log):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, '-m', 'benchmarks.deploy_benchmark', json.dumps(spec)],
                          env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=spec.get('timeout', 1800))
    wall = time.perf_counter() - t0
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    if proc.returncode != 0 or not line:
        log(f'  {spec["kind"]} failed ({proc.returncode}): {proc.stderr[-1500:]}')
        return dict(kind=spec['kind'], error=proc.stderr.strip().splitlines()[-1:] or ['?'])
    res = json.loads(line[-1][len('RESULT '):])
    log(f'  {spec["kind"]}: {json.dumps(res)} ({wall:.0f} s with start-up)')
    return res


def _f(v, spec='.2f'):
    return '—' if v is None else format(v, spec)


CSV_FIELDS = ['config', 'shape', 'n', 'loop', 'export_s', 'file_mib', 'nodes', 'scan_nodes',
              'matmul_nodes', 'nxn_values', 'largest_n_value', 'largest_n_value_mib',
              'pytorch_peak_mib', 'onnxruntime_peak_mib', 'memory_ratio', 'pytorch_latency_s',
              'onnxruntime_latency_s', 'max_abs_diff']


def write_report(rows, compile_rows, meta, out, dynamic_rows=()):
    """``<out>.json`` (everything, the header as ``meta``), ``<out>.csv`` (the export rows, the
    header on its first line) and ``<out>.md``, through :mod:`benchmarks.reporting`."""
    from . import reporting
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(dict(meta=meta, rows=rows, compile=compile_rows, dynamic=list(dynamic_rows)),
                  f, indent=1)
    header = {k: v for k, v in meta.items() if k not in ('shape', 'compile_shape')}
    reporting.write_csv(out + '.csv', rows, CSV_FIELDS, header)
    h, w = meta['shape']
    lines = ['# Deployment: ONNX export at whole-image size, onnxruntime against PyTorch', '',
             '<!-- Written by tools/benchmark_deploy.py; rerun it (or --render the JSON) rather '
             'than editing. -->', '']
    lines += reporting.header_markdown(header)
    lines += [f'- input: one {h}×{w} image, whole-image logits (`image -> logits`, '
              'pre-processing included); random weights (every zero-initialised gamma set '
              'non-zero); method: the docstring of `tools/benchmark_deploy.py`',
              '', '## Exported graph and memory', '']
    table = []
    for r in rows:
        largest = '×'.join(str(d) for d in r.get('largest_n_value') or []) or '—'
        table.append([
            r['config'], r['loop'], r.get('n', '—'), _f(r.get('export_s'), '.0f'),
            f"{r.get('nodes', '—')} ({r.get('scan_nodes', '—')})", r.get('nxn_values', '—'),
            f"{largest} ({_f(r.get('largest_n_value_mib'), '.0f')} MiB)",
            _f(r.get('pytorch_peak_mib'), '.0f'), _f(r.get('onnxruntime_peak_mib'), '.0f'),
            _f(r.get('memory_ratio')), _f(r.get('pytorch_latency_s'), '.1f'),
            _f(r.get('onnxruntime_latency_s'), '.1f'), _f(r.get('max_abs_diff'), '.2g')])
    lines += reporting.markdown_table(
        ['config', 'loop', 'N', 'export (s)', 'nodes (Scan)', 'N×N values',
         'largest value with an N dim', 'PyTorch peak (MiB)', 'onnxruntime peak (MiB)',
         'ORT / PyTorch', 'PyTorch (s)', 'onnxruntime (s)', 'max abs diff'], table, 'l' * 13)
    if compile_rows:
        ch, cw = meta['compile_shape']
        lines += ['', f'## torch.compile (inductor) at {ch}×{cw}', '']
        table = []
        for r in compile_rows:
            note = '; '.join(v for k, v in r.items() if k.startswith('error')) or ''
            speed = (r['eager_s'] / r['compiled_s']) if r.get('compiled_s') else None
            table.append([r['config'], r.get('fullgraph', '—'), _f(r.get('compile_s'), '.0f'),
                          _f(r.get('eager_s'), '.3f'), _f(r.get('compiled_s'), '.3f'),
                          _f(speed), _f(r.get('max_abs_diff'), '.2g'), note.replace('|', '/')])
        lines += reporting.markdown_table(
            ['config', 'fullgraph', 'compile (s)', 'eager (s)', 'compiled (s)', 'speed-up',
             'max abs diff', 'note'], table, 'l' * 8)
    if dynamic_rows:
        lines += ['', '## Dynamic-shape export (H and W dynamic, one graph checked at two sizes)',
                  '']
        table = []
        for r in dynamic_rows:
            for c in r.get('checks', []):
                table.append([r['config'], _f(r.get('export_and_check_s'), '.0f'),
                              f"{c['shape'][0]}×{c['shape'][1]}", _f(c['max_abs_diff'], '.2g'),
                              f"{100 * c['argmax_equal']:.2f}%"])
            if 'error' in r:
                table.append([r['config'], '—', '—', f"failed: {r['error']}", '—'])
        lines += reporting.markdown_table(
            ['config', 'export + checks (s)', 'size', 'max abs diff', 'argmax equal'], table,
            'l' * 5)
    reporting.write_text(out + '.md', lines)


def render(json_path, out):
    """Re-render ``<out>.md`` and ``.csv`` from a JSON this tool wrote (its header kept)."""
    with open(json_path) as f:
        data = json.load(f)
    write_report(data['rows'], data.get('compile', []), data['meta'], out,
                 data.get('dynamic', []))


def _meta(args, argv, started):
    from . import reporting
    import onnxruntime
    header = reporting.run_header(
        reporting.command_line('tools/benchmark_deploy.py', argv), 'cpu', started)
    header['versions'] += f', onnxruntime {onnxruntime.__version__}'
    return dict(header, shape=list(args.shape), compile_shape=list(args.compile_shape))


def run(args, argv):
    """Every measurement of ``args`` (the options of ``tools/benchmark_deploy.py``), each in
    its own subprocess, and the report (rewritten after each config)."""
    from . import reporting
    started = reporting.now()

    def log(msg):
        print(msg, flush=True)

    rows, compile_rows, dynamic_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, config in enumerate(args.configs):
            config = osp.join(ROOT, config) if not osp.isabs(config) else config
            name = osp.splitext(osp.basename(config))[0]
            log(f'{name}')
            ckpt = osp.join(tmp, f'{i}.pth')
            from attnplug.deploy import save_random_checkpoint
            save_random_checkpoint(config, ckpt, seed=i)
            common = dict(config=config, checkpoint=ckpt, shape=list(args.shape))
            for j, loop in enumerate(args.loops):
                onnx = osp.join(tmp, f'{i}_{loop}.onnx')
                row = dict(config=name, shape='x'.join(map(str, args.shape)), loop=loop)
                row.update(launch(dict(common, kind='export', onnx=onnx, loop=loop), log))
                row.pop('kind', None)
                if j == 0 and 'error' not in row:
                    res_pt, res_ort = osp.join(tmp, 'pt.npy'), osp.join(tmp, 'ort.npy')
                    pt = launch(dict(common, kind='pytorch', result=res_pt), log)
                    ort = launch(dict(common, kind='onnxruntime', onnx=onnx, result=res_ort), log)
                    if 'error' not in pt and 'error' not in ort:
                        import numpy as np
                        diff = float(np.abs(np.load(res_pt) - np.load(res_ort)).max())
                        row.update(pytorch_peak_mib=pt['peak_mib'],
                                   onnxruntime_peak_mib=ort['peak_mib'],
                                   memory_ratio=ort['peak_mib'] / max(pt['peak_mib'], 1e-9),
                                   pytorch_latency_s=pt['latency_s'],
                                   onnxruntime_latency_s=ort['latency_s'], max_abs_diff=diff)
                with contextlib.suppress(OSError):
                    os.remove(onnx)
                rows.append(row)
            write_report(rows, compile_rows, _meta(args, argv, started), args.out, dynamic_rows)
            if not args.skip_dynamic:
                r = launch(dict(config=config, checkpoint=ckpt, kind='dynamic',
                                onnx=osp.join(tmp, f'{i}_dynamic.onnx'),
                                shape=list(args.compile_shape),
                                check_shape=[2 * args.compile_shape[0] - 16,
                                             2 * args.compile_shape[1] + 32]), log)
                r.pop('kind', None)
                dynamic_rows.append(dict(config=name, **r))
            if not args.skip_compile and (args.compile_configs is None
                                          or any(c in config for c in args.compile_configs)):
                r = launch(dict(config=config, checkpoint=ckpt, kind='compile',
                                shape=list(args.compile_shape), repeats=args.repeats,
                                timeout=1800), log)
                r.pop('kind', None)
                compile_rows.append(dict(config=name, **r))
    write_report(rows, compile_rows, _meta(args, argv, started), args.out, dynamic_rows)
    log(f'wrote {args.out}.md/.csv/.json')
    return 0


def _child():
    """``python -m benchmarks.deploy_benchmark SPEC_JSON``: one measurement, on stdout."""
    print('RESULT ' + json.dumps(worker(json.loads(sys.argv[1]))), flush=True)


if __name__ == '__main__':
    _child()
