"""Measure the per-module conformance matrix: every registered layer and decode head.

    python tools/conformance.py                 # measure all, write docs/conformance.json
                                                #   and the block in docs/modules.md
    python tools/conformance.py --only CBAM DNLHead --print   # measure some, write nothing
    python tools/conformance.py --render        # re-render docs/modules.md from the JSON
    python tools/conformance.py --columns provenance   # re-measure one column for all
    python tools/conformance.py --only X --columns compile  # one cell, the rest kept

For each module (every ``attnplug.layers.base.registered_layers()`` entry, every head in
``attnplug.models.decode_heads.__all__``) it records, as data (``Cell``: status, reason):

* ``onnx_static``: ``torch.onnx.export(dynamo=True, opset 17)`` at one H×W, onnxruntime
  within tolerance of PyTorch at that size;
* ``onnx_dynamic``: the same export with H and W dynamic (``Dim.AUTO``), run by onnxruntime
  at another H×W and compared with PyTorch there;
* ``compile``: ``torch.compile(backend='inductor')`` against eager at one size;
* ``fp16`` / ``bf16``: CPU autocast, forward and backward finite and the forward within a
  relative tolerance of fp32;
* ``largest``: the largest tensor any op returns in one eval forward
  (:func:`attnplug.testing.largest_tensor`), as a fraction of N² (N = H·W of the input),
  with every ``memory_budget`` in the module set to 1/8 of an N×N fp32 map, so a module
  that bounds its attention shows it at this small size;
* ``provenance``: where the module's numbers are checked from: a golden record of the authors'
  code (``tests/golden/authors/<file stem>*.pt``, read with :func:`attnplug.testing.load_golden`)
  if one exists, else the mmcv / mmseg / mmdet classes its test file imports as references.

A failure's cell holds the exception's type and the first line of its message. Small sizes
and a few channels keep it to a few minutes on 2 CPU cores; inductor reuses its on-disk cache
between runs. The test ``tests/test_conformance.py`` re-measures a sample and checks the JSON,
the table and the coverage.
"""
import argparse
import contextlib
import dataclasses
import datetime
import inspect
import io
import json
import math
import platform
import re
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
JSON_PATH = ROOT / 'docs' / 'conformance.json'
DOC_PATH = ROOT / 'docs' / 'modules.md'
START, END = '<!-- conformance:start -->', '<!-- conformance:end -->'

CHANNELS = 8
STATIC_HW = (13, 17)
DYNAMIC_HW = (11, 19)
LARGEST_HW = (23, 31)
ONNX_ATOL = 1e-4  # times max(1, max |output|)
AMP_RTOL = {'fp16': 1e-2, 'bf16': 5e-2}  # max |amp - fp32| / max |fp32|
CHECK_SECONDS = 240  # one check of one module; a longer one is reported as not finishing
COLUMNS = ('onnx_static', 'onnx_dynamic', 'compile', 'fp16', 'bf16', 'largest', 'provenance')
HEADERS = {'onnx_static': f'ONNX {STATIC_HW[0]}×{STATIC_HW[1]}',
           'onnx_dynamic': f'ONNX dynamic H×W (run at {DYNAMIC_HW[0]}×{DYNAMIC_HW[1]})',
           'compile': 'torch.compile (inductor)', 'fp16': 'fp16 autocast',
           'bf16': 'bf16 autocast',
           'largest': f'largest tensor / N² ({LARGEST_HW[0]}×{LARGEST_HW[1]})',
           'provenance': 'checked against'}

#: Constructor arguments a head needs beyond in_channels/channels/num_classes, by name; a
#: callable gets the input (H, W). A head not listed is built with the common ones only.
HEAD_ARGS = {
    'DAHead': dict(pam_channels=4),
    'PSAHead': lambda h, w: dict(mask_size=(h, w)),  # the mask covers the map, as in mmseg
    'AttnFCNHead': dict(attn_cfg=dict(type='attnplug.CBAM')),
    'ISAHead': dict(isa_channels=4),
    'EMAHead': dict(ema_channels=8, num_bases=4, num_stages=2),
    'OCRHead': dict(ocr_channels=8),
    'ANNHead': dict(in_channels=[CHANNELS, CHANNELS], in_index=[0, 1], project_channels=4),
}
#: mmseg 1.2.2's own attention heads, measured beside attnplug's for comparison: the originals
#: of attnplug's drop-ins, and the heads attnplug does not replace (docs/backbone_hooks.md).
MMSEG_HEADS = ('NLHead', 'DNLHead', 'PSAHead', 'ISAHead', 'EMAHead', 'OCRHead', 'ANNHead')
#: How a head is called on one (1, C, H, W) feature: ANN takes a low and a high level map,
#: OCR the previous head's logits as well.
HEAD_CALL = {'ANNHead': 'pair', 'OCRHead': 'cascade'}


@dataclasses.dataclass
class Cell:
    status: str  # 'pass', 'fail', 'value' (a measurement) or 'none' (not applicable)
    reason: str = ''
    value: Optional[float] = None

    def render(self) -> str:
        if self.status == 'pass':
            return '✓' if not self.reason else f'✓ {self.reason}'
        if self.status == 'none':
            return f'— {self.reason}'
        if self.status == 'value':
            return f'{self.value:.3g}' + (f' ({self.reason})' if self.reason else '')
        return f'✗ {self.reason}'


@dataclasses.dataclass
class Subject:
    """A module under test: ``build(h, w)`` -> an eval module whose forward takes tensors;
    ``inputs(module, h, w, batch=1)`` -> its inputs for a (batch, C, h, w) feature."""
    name: str
    kind: str  # 'layer' or 'head'
    build: Callable[[int, int], nn.Module]
    inputs: Callable[[nn.Module, int, int], Tuple[torch.Tensor, ...]]
    source: str  # the file that defines it (for the provenance lookup)


class _HeadAsFunction(nn.Module):
    """A decode head called on tensors: ``head([x])`` (or ``head([x, x])``,
    ``head([x], prev)``, see :data:`HEAD_CALL`), its first output only."""

    def __init__(self, head: nn.Module, call: str = 'single'):
        super().__init__()
        self.head = head
        self.call = call

    def forward(self, x, prev=None):
        if self.call == 'pair':
            out = self.head([x, x])
        elif self.call == 'cascade':
            out = self.head([x], prev)
        else:
            out = self.head([x])
        return out[0] if isinstance(out, (tuple, list)) else out


def _why(err: BaseException) -> str:
    """``Type: first line``, with the innermost cause when the exporter wraps one."""
    def first_line(e):
        text = re.sub(r'\x1b\[[0-9;]*m', '', str(e))
        lines = [re.sub(r'\s+', ' ', ln).strip() for ln in text.splitlines() if ln.strip()]
        return lines[0] if lines else ''

    root = err
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    text = f'{type(err).__name__}: {first_line(err)}'.rstrip(': ')
    if root is not err:
        text = f'{type(err).__name__} <- {type(root).__name__}: {first_line(root)}'
    return text if len(text) <= 160 else text[:157] + '...'


def subjects() -> List[Subject]:
    from attnplug.layers.base import registered_layers
    from attnplug.testing import perturb, randomise
    out = []
    for name, cls in registered_layers().items():
        def build(h, w, cls=cls):
            return perturb(cls.for_channels(CHANNELS)).eval()

        out.append(Subject(name, 'layer', build,
                           lambda m, h, w, batch=1: m.example_inputs(batch, h, w),
                           inspect.getsourcefile(cls)))
    try:
        import attnplug.models.decode_heads as heads
        import mmseg.models.decode_heads as mmseg_heads
    except ImportError:
        return out
    classes = [(name, 'head', getattr(heads, name)) for name in heads.__all__]
    classes += [(f'mmseg.{name}', 'mmseg head', getattr(mmseg_heads, name))
                for name in MMSEG_HEADS]
    for label, kind, cls in classes:
        name = cls.__name__
        call = HEAD_CALL.get(name, 'single')

        def build(h, w, cls=cls, name=name, call=call):
            kwargs = dict(in_channels=CHANNELS, channels=CHANNELS, num_classes=3)
            extra = HEAD_ARGS.get(name, {})
            kwargs.update(extra(h, w) if callable(extra) else extra)
            return _HeadAsFunction(randomise(cls(**kwargs)), call).eval()

        def inputs(m, h, w, batch=1, call=call):
            x = torch.randn(batch, CHANNELS, h, w)
            return (x, torch.randn(batch, 3, h, w)) if call == 'cascade' else (x, )

        out.append(Subject(label, kind, build, inputs, inspect.getsourcefile(cls)))
    return out


def _close(got: torch.Tensor, ref: torch.Tensor, atol_scale: float) -> Tuple[bool, float]:
    diff = (got.float() - ref.float()).abs().max().item()
    return diff <= atol_scale * max(1.0, ref.abs().max().item()), diff


def _onnx(subject: Subject, dynamic: bool) -> Cell:
    import onnxruntime as ort
    torch.manual_seed(0)
    model = subject.build(*STATIC_HW)
    inputs = subject.inputs(model, *STATIC_HW)
    kwargs = {}
    if dynamic:
        auto = torch.export.Dim.AUTO
        kwargs['dynamic_shapes'] = tuple({2: auto, 3: auto} for _ in inputs)
    names = [f'x{i}' for i in range(len(inputs))]
    buf = io.BytesIO()
    try:
        with torch.no_grad():
            torch.onnx.export(model, inputs, buf, dynamo=True, opset_version=17,
                              input_names=names, verbose=False, **kwargs)
        sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    except Exception as err:  # noqa: BLE001 (the reason is the result)
        return Cell('fail', 'export: ' + _why(err))
    if dynamic:
        inputs = subject.inputs(model, *DYNAMIC_HW)
    with torch.no_grad():
        ref = model(*inputs)
    try:
        got = torch.from_numpy(sess.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0])
    except Exception as err:  # noqa: BLE001
        return Cell('fail', 'onnxruntime: ' + _why(err))
    if got.shape != ref.shape:
        return Cell('fail', f'onnxruntime shape {tuple(got.shape)} != {tuple(ref.shape)}')
    ok, diff = _close(got, ref, ONNX_ATOL)
    return Cell('pass') if ok else Cell('fail', f'onnxruntime differs by {diff:.2g}')


def _compile(subject: Subject) -> Cell:
    torch.manual_seed(0)
    model = subject.build(*STATIC_HW)
    inputs = subject.inputs(model, *STATIC_HW)
    torch._dynamo.reset()
    try:
        with torch.no_grad():
            ref = model(*inputs)
            got = torch.compile(model, backend='inductor', dynamic=False)(*inputs)
    except Exception as err:  # noqa: BLE001
        return Cell('fail', _why(err))
    finally:
        torch._dynamo.reset()
    ok, diff = _close(got, ref, ONNX_ATOL)
    return Cell('pass') if ok else Cell('fail', f'differs from eager by {diff:.2g}')


def _amp(subject: Subject, dtype: torch.dtype, key: str) -> Cell:
    torch.manual_seed(0)
    model = subject.build(*STATIC_HW)
    # batch 2: a norm over a pooled (B, C, 1, 1) map cannot train on one sample
    inputs = subject.inputs(model, *STATIC_HW, batch=2)
    try:
        with torch.no_grad():
            ref = model(*inputs)
            with torch.autocast(device_type='cpu', dtype=dtype):
                out_eval = model(*inputs)
        model.train()
        inputs = [t.clone().requires_grad_() for t in inputs]
        with torch.autocast(device_type='cpu', dtype=dtype):
            out = model(*inputs)
        out.float().square().mean().backward()
    except Exception as err:  # noqa: BLE001
        return Cell('fail', _why(err))
    if not torch.isfinite(out.float()).all() or not torch.isfinite(out_eval.float()).all():
        return Cell('fail', 'non-finite forward')
    grads = [t.grad for t in inputs] + [p.grad for p in model.parameters() if p.grad is not None]
    if not all(torch.isfinite(g).all() for g in grads if g is not None):
        return Cell('fail', 'non-finite gradient')
    err = (out_eval.float() - ref).abs().max().item() / max(ref.abs().max().item(), 1e-12)
    if err > AMP_RTOL[key]:
        return Cell('fail', f'relative error {err:.2g} > {AMP_RTOL[key]:g}')
    return Cell('pass')


def _largest(subject: Subject) -> Cell:
    from attnplug.testing import largest_tensor
    h, w = LARGEST_HW
    n = h * w
    torch.manual_seed(0)
    try:
        model = subject.build(h, w)
        budgeted = 0
        for m in model.modules():
            if hasattr(m, 'memory_budget'):
                m.memory_budget = 4 * n * n // 8
                budgeted += 1
        inputs = subject.inputs(model, h, w)
        with torch.no_grad(), largest_tensor() as probe:
            model(*inputs)
    except Exception as err:  # noqa: BLE001
        return Cell('fail', _why(err))
    op = str(probe.op).replace('aten.', '').split('.')[0] if probe.op is not None else '-'
    return Cell('value', op, probe.largest / (n * n))


_REGISTRIES = {'MODELS', 'TASK_UTILS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'VISUALIZERS'}
_REFERENCE_IMPORT = re.compile(
    r'^\s*from\s+((?:mmcv|mmseg|mmdet)[\w.]*)\s+import\s+\(?([\w\s,]+?)\)?\s*$', re.M)


def _provenance(subject: Subject) -> Cell:
    from attnplug.testing import load_golden
    if subject.kind == 'mmseg head':
        return Cell('none', "mmseg's own class, measured for comparison")
    stem = Path(subject.source).stem
    records = sorted((ROOT / 'tests' / 'golden' / 'authors').glob(f'{stem}*.pt'))
    records = [r for r in records if r.stem == stem or r.stem.startswith(stem + '-')]
    # and every record the faithfulness tool compared with this module, whatever its file name
    faithfulness = ROOT / 'docs' / 'faithfulness.json'
    if faithfulness.exists():
        rows = json.loads(faithfulness.read_text()).get('rows', [])
        records = sorted(set(records) | {ROOT / row['record'] for row in rows
                                         if subject.name in row.get('modules', ())})
    if records:
        parts = []
        for path in records:
            try:
                prov = load_golden(path)['provenance']
            except Exception as err:  # noqa: BLE001
                return Cell('fail', f'golden record {path.name}: {_why(err)}')
            parts.append(f"{prov['repo']}@{prov['commit'][:7]} {prov['file']}:{prov['cls']}")
        return Cell('pass', 'golden (authors): ' + '; '.join(sorted(set(parts))))
    folder = 'layers' if subject.kind == 'layer' else 'models'
    test = ROOT / 'tests' / folder / f'test_{stem}.py'
    if not test.exists():
        return Cell('fail', f'no golden record and no {test.relative_to(ROOT)}')
    refs = []
    for module, names in _REFERENCE_IMPORT.findall(test.read_text()):
        if 'backbones' in module:
            continue  # the host a plugin is built into, not a reference
        for item in names.split(','):
            name = item.split(' as ')[0].strip()  # the imported name, not its local alias
            # classes only: not builders, not mmengine registries (MODELS)
            if name and not name.startswith('build_') and name[0].isupper() \
                    and name not in _REGISTRIES:
                refs.append(f'{module.split(".")[0]} {name}')
    refs = sorted(set(refs) - {f'{m} {n}' for m in ('mmseg', 'mmcv', 'mmdet')
                               for n in ('SegDataSample', 'PixelData', 'ConvModule')})
    if not refs:
        return Cell('fail', f'no golden record; {test.name} names no mmcv/mmseg/mmdet reference')
    peer = ROOT / 'tests' / 'peer' / 'test_mmseg_peer_suites.py'
    suite = ''
    if peer.exists() and f'test_{stem}' in peer.read_text():
        suite = f" + mmseg's shipped test_{stem}.py"
    return Cell('pass', f'reference: {", ".join(refs)} ({test.name}){suite}')


def measure(subject: Subject, columns=COLUMNS) -> Dict[str, Cell]:
    checks = {
        'onnx_static': lambda: _onnx(subject, dynamic=False),
        'onnx_dynamic': lambda: _onnx(subject, dynamic=True),
        'compile': lambda: _compile(subject),
        'fp16': lambda: _amp(subject, torch.float16, 'fp16'),
        'bf16': lambda: _amp(subject, torch.bfloat16, 'bf16'),
        'largest': lambda: _largest(subject),
        'provenance': lambda: _provenance(subject),
    }
    row = {}
    for col in columns:
        try:
            with _time_limit(CHECK_SECONDS):
                row[col] = checks[col]()
        except _CheckTimeout:
            row[col] = Cell('fail', f'did not finish within {CHECK_SECONDS} s')
        except Exception as err:  # noqa: BLE001  (a broken check is reported, not hidden)
            row[col] = Cell('fail', 'check crashed: ' + _why(err))
    return row


class _CheckTimeout(BaseException):
    """Raised by SIGALRM inside a check (a BaseException, so the checks' own
    ``except Exception`` does not swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: int):
    if not hasattr(signal, 'SIGALRM'):
        yield
        return

    def expire(signum, frame):
        raise _CheckTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def render(data: dict) -> str:
    meta = data['meta']
    lines = [START, '',
             f"<!-- Generated by `{meta['command']}` from docs/conformance.json; "
             'tests/test_conformance.py fails when they differ. Do not edit by hand. -->', '',
             f"Measured {meta['date']} on {meta['device']}, torch {meta['torch']}, "
             f"onnxruntime {meta['onnxruntime']}; {meta['channels']} channels, batch 1 (2 under "
             'autocast, which also trains). '
             '✓ passes; ✗ fails, with the exception or the difference. ONNX: '
             f"`dynamo=True`, opset 17, within {ONNX_ATOL:g}·max(1, |y|). Autocast: forward "
             'and backward finite, eval forward within '
             f"{AMP_RTOL['fp16']:g} (fp16) / {AMP_RTOL['bf16']:g} (bf16) of fp32, relative. "
             'Largest tensor: elements of the largest tensor any op returns in one eval '
             'forward over N² (N = H·W of the input), every `memory_budget` set to 1/8 of an '
             'N×N fp32 map; the op that made it in brackets. Heads run as `head([x])` with '
             f"in_channels = channels = {meta['channels']}, 3 classes, no norm.", '',
             '| module | kind | ' + ' | '.join(HEADERS[c] for c in COLUMNS) + ' |',
             '|---|---|' + '---|' * len(COLUMNS)]
    for row in data['rows']:
        cells = [Cell(**row['cells'][c]).render().replace('|', '\\|') for c in COLUMNS]
        lines.append(f"| `{row['module']}` | {row['kind']} | " + ' | '.join(cells) + ' |')
    lines += ['', END]
    return '\n'.join(lines)


def write_doc(data: dict, path: Path = DOC_PATH) -> None:
    text = path.read_text()
    block = render(data)
    if START in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip('\n') + '\n\n## Conformance matrix\n\n' + block + '\n'
    path.write_text(text)


def _device() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                name = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{name}, {torch.get_num_threads()} threads'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--only', nargs='*', help='registered names to measure (default: all)')
    p.add_argument('--print', action='store_true', help='print the rows, write nothing')
    p.add_argument('--render', action='store_true', help='re-render the doc from the JSON')
    p.add_argument('--columns', nargs='*', choices=COLUMNS,
                   help='re-measure only these columns, keeping the others from the JSON '
                        '(a module without a row is measured in full); e.g. --columns '
                        'provenance after adding golden records')
    args = p.parse_args(argv)
    if args.render:
        write_doc(json.loads(JSON_PATH.read_text()))
        return 0
    import onnxruntime
    old = {}
    if args.columns:
        old = {row['module']: row for row in json.loads(JSON_PATH.read_text())['rows']}
    rows = []
    for subject in subjects():
        if args.only and subject.name not in args.only:
            if subject.name in old:  # --columns with --only: the other rows stay as they are
                rows.append(old[subject.name])
            continue
        t0 = time.time()
        if subject.name in old:
            cells = {c: Cell(**v) for c, v in old[subject.name]['cells'].items()}
            cells.update(measure(subject, args.columns))
        else:
            cells = measure(subject)
        rows.append(dict(module=subject.name, kind=subject.kind,
                         cells={c: dataclasses.asdict(v) for c, v in cells.items()}))
        print(f'{subject.name:28s} {time.time() - t0:6.1f}s  ' +
              '  '.join(f'{c}={v.render()}' for c, v in cells.items()), flush=True)
    if args.print or (args.only and not args.columns):
        return 0
    meta = dict(date=datetime.date.today().isoformat(), device=_device(),
                torch=torch.__version__, onnxruntime=onnxruntime.__version__,
                channels=CHANNELS, command='python tools/conformance.py')
    if args.columns:
        # the other columns keep the date and machine they were measured on
        meta = json.loads(JSON_PATH.read_text())['meta']
        meta['command'] += (f"; {' '.join(args.columns)} re-measured "
                            f'{datetime.date.today().isoformat()} with --columns')
    data = dict(meta=meta, rows=rows)
    JSON_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + '\n')
    write_doc(data)
    print(f'wrote {JSON_PATH.relative_to(ROOT)} and the block in {DOC_PATH.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
