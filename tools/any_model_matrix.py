"""The support matrix of ``attnplug.WithPlugins``: every backbone and neck registered in mmseg
and mmdet (and mmpretrain where it imports), each checked with an identity-at-init plugin and
with CBAM.

    python tools/any_model_matrix.py [--only NAME ...] [--jsonl OUT.jsonl] [--md docs/any_model.md]
                                     [--timeout 240]
    python tools/any_model_matrix.py --from-jsonl RUN.jsonl [RERUN.jsonl ...] --md docs/any_model.md

Per registered class:

1. **config**: the first config the installed wheel ships (``<pkg>/.mim/configs``, the
   ``_base_/models`` files first) whose model holds a dict of that type (not a bare
   ``dict(type=...)`` reference), built as it is in the package's default scope, with
   pretrained weights removed; else the same-named class's config in the other wheel; else a
   minimal config (:data:`MINIMAL`); a class whose package is not installed (:data:`NEEDS`)
   says so;
2. **placement**: the default ``after=`` from one dry run of the plain model
   (:func:`attnplug.models.with_plugins.suggest_placements`): every block of stages 2-S, else
   every block (or, where the repeated units hold no layers, a neck's convs: every layer of
   stages 2-S, every layer), else the stage outputs, else the model's top-level parts, else
   the shallowest parts that hold layers, else (torch.nn layers only) every numbered layer
   with weights of its most numerous class;

and per plugin (``GlobalContextBlock``, the identity at init; ``CBAM``):

3. **keys**: ``WithPlugins`` builds it, and the plain model's state dict loads into it with
   exactly the plugin keys missing and nothing unexpected;
4. **identity**: after ``init_weights()`` its outputs equal the plain model's (max abs diff
   <= 1e-5 relative to the output's scale; n/a for CBAM, which is not the identity);
5. **fwd/bwd**: a training step (batch 2) gives finite outputs and a gradient on every plugin;
6. **onnx**: ``torch.onnx.export(dynamo=True, opset 18)`` (the exporter's own opset) of the
   eval model with perturbed plugins, onnxruntime within 1e-4 (relative to the output's
   scale) of PyTorch, or, where the plain model's own export already differs by more, within
   1.5 times the plain model's error (the row's reason then gives both).

A backbone is fed a 3-channel image of the first probe size; a neck gets one zero map per
``in_channels`` entry, at strides 4, 8, 16, ... of that size (the necks after a ViT: maps of
one size, at stride 16), or the same maps in the reverse order where the listed order does
not run (YOLOV3Neck), at :data:`LARGER_SIZES` where the default probe sizes are too small for
its extra levels (NASFPN, SSDNeck). A failure's reason names the exception at the root of the
exporter's chain and the line outside torch that raised it. Results are rows of data
(:class:`Row`, statuses of :class:`Status`), written as JSON lines as they come (a long run
that is cut keeps what it measured) and rendered into ``docs/any_model.md`` between the
``any-model-matrix`` markers.
"""
import argparse
import copy
import dataclasses
import datetime
import enum
import glob
import importlib.util
import io
import json
import os
import os.path as osp
import platform
import re
import signal
import sys
import time
import traceback
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import attnplug  # noqa: E402,F401

PLUGINS = ('GlobalContextBlock', 'CBAM')
#: A small config of the same class where the wheel's is too slow for 2 CPU cores (the ViT-B
#: sized transformers, BEiT at 640x640): overrides on top of the wheel's config, listed in the
#: table's config column.
SMALL = {
    'VisionTransformer': dict(embed_dims=64, num_layers=4, num_heads=2, out_indices=(1, 3)),
    'BEiT': dict(img_size=(64, 64), embed_dims=64, num_layers=4, num_heads=2,
                 out_indices=(1, 3)),
    'MAE': dict(img_size=(64, 64), embed_dims=64, num_layers=4, num_heads=2,
                out_indices=(1, 3)),
    'SwinTransformer': dict(embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
}
#: The classes no config of either wheel builds (UNet's upsampling layers, registered as
#: backbones; ResNetV1d; DetectoRS's ResNeXt): a minimal config of the class, listed in the
#: table's config column.
MINIMAL = {
    'InterpConv': dict(in_channels=3, out_channels=16),
    'DeconvModule': dict(in_channels=3, out_channels=16),
    'DetectoRS_ResNeXt': dict(depth=50, groups=32, base_width=4),
    'ResNetV1d': dict(depth=18),
    'TIMMBackbone': dict(model_name='resnet18'),
    'SSH': dict(num_scales=3, in_channels=[16, 32, 64], out_channels=[16, 32, 64]),
}
#: Classes that import a package this stack does not install: the package, checked here.
NEEDS = {'TIMMBackbone': 'timm', 'VPD': 'ldm'}
#: Probe sizes tried after the defaults (and the size a model declares) when the dry run fails:
#: a neck with extra levels (NASFPN, SSDNeck) needs its smallest map >= its kernels.
LARGER_SIZES = ((256, 384), (384, 512))
#: Checked first: the classes issue 25 names as failing before it.
FIRST = ('VisionTransformer', 'BEiT', 'MAE', 'MSCAN')
CHECKS = ('keys', 'identity', 'fwd_bwd', 'onnx')
START = '<!-- any-model-matrix:start (generated by tools/any_model_matrix.py; do not edit) -->'
END = '<!-- any-model-matrix:end -->'


class Status(str, enum.Enum):
    PASS = 'pass'
    FAIL = 'fail'
    NA = 'n/a'
    NOT_RUN = 'not run'


@dataclasses.dataclass
class Row:
    """One registered class with one plugin."""
    package: str
    kind: str  # 'backbone' | 'neck'
    model: str
    plugin: str
    config: str = ''
    placement: str = ''
    after: str = ''
    sites: int = 0
    keys: Status = Status.NOT_RUN
    identity: Status = Status.NOT_RUN
    fwd_bwd: Status = Status.NOT_RUN
    onnx: Status = Status.NOT_RUN
    reason: str = ''
    seconds: float = 0.0

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        for c in CHECKS:
            d[c] = getattr(self, c).value
        return d

    @classmethod
    def from_json(cls, d: dict) -> 'Row':
        d = dict(d)
        for c in CHECKS:
            d[c] = Status(d[c])
        return cls(**d)

    @property
    def green(self) -> bool:
        return all(getattr(self, c) in (Status.PASS, Status.NA) for c in CHECKS)


# ------------------------------------------------------------------------------ registry
def registered() -> List[Tuple[str, str, str, type]]:
    """(package, kind, name, class) of every registered backbone and neck."""
    out = []
    import mmdet.models  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG
    for package, registry in (('mmseg', SEG), ('mmdet', DET)):
        registry.import_from_location()
        for name, cls in sorted(registry.module_dict.items()):
            for kind in ('backbone', 'neck'):
                if f'.{kind}s' in cls.__module__:
                    out.append((package, kind, name, cls))
    return out


def mmpretrain_status() -> str:
    """Why mmpretrain's models are (not) in the matrix."""
    try:
        import mmpretrain.models  # noqa: F401
    except Exception as err:  # noqa: BLE001
        return f'not importable here ({type(err).__name__}: {str(err)[:120]})'
    return 'importable'


# ------------------------------------------------------------------------------ configs
def _find_dict(node, name: str):
    if isinstance(node, dict):
        if node.get('type') in (name, f'mmseg.{name}', f'mmdet.{name}'):
            return node
        for v in node.values():
            found = _find_dict(v, name)
            if found is not None:
                return found
    elif isinstance(node, (list, tuple)):
        for v in node:
            found = _find_dict(v, name)
            if found is not None:
                return found
    return None


def wheel_config(package: str, name: str) -> Tuple[Optional[dict], str]:
    """The first config of ``package``'s wheel whose model holds a dict of type ``name``:
    (that dict without pretrained weights, the config's path under .mim/configs)."""
    from mmengine.config import Config

    from attnplug.analysis.build import strip_pretrained
    root = osp.join(osp.dirname(__import__(package).__file__), '.mim', 'configs')
    files = sorted(glob.glob(osp.join(root, '_base_', 'models', '*.py'))) + sorted(
        f for f in glob.glob(osp.join(root, '**', '*.py'), recursive=True) if '_base_' not in f)
    pattern = re.compile(r"type\s*=\s*['\"](?:\w+\.)?" + re.escape(name) + r"['\"]")
    for path in files:
        with open(path) as f:
            if not pattern.search(f.read()):
                continue
        try:
            cfg = Config.fromfile(path)
        except Exception:  # noqa: BLE001  (a config that needs a missing package)
            continue
        model = cfg.get('model')
        strip_pretrained(model) if model is not None else None
        found = _find_dict(model.to_dict() if hasattr(model, 'to_dict') else model, name)
        if found is not None and set(found) != {'type'}:  # not a bare reference (InterpConv)
            found = copy.deepcopy(found)
            found.pop('init_cfg', None)
            found.pop('pretrained', None)
            return found, osp.relpath(path, root)
    return None, ''


# ------------------------------------------------------------------------------ checks
class _Timeout(Exception):
    pass


def reason_of(err: BaseException) -> str:
    """A row's reason for ``err``: its type and first line, and the exception at the root of
    its chain (the exporter wraps the real cause: an op it cannot trace, or this tool's own
    time limit, which is then reported as such)."""
    chain, e = [], err
    while e is not None and all(e is not c for c in chain):
        chain.append(e)
        e = e.__cause__ or e.__context__
    limit = next((e for e in chain if isinstance(e, _Timeout)), None)
    if limit is not None:
        where = '' if limit is err else f' (inside {type(err).__name__})'
        return f'{limit}{where}'

    def line(e):
        text = re.sub(r'\x1b\[[0-9;]*m', '', str(e)).strip()
        first = re.sub(r'\s*Next steps:$', '', text.splitlines()[0]) if text else ''
        return f'{type(e).__name__}: {first[:200]}'
    out = line(err)
    root = chain[-1]
    if root is not err:
        out += f' <- root cause {line(root)}'
        # where it was raised: the innermost frame outside torch (the op's own library)
        frames = [f for f in traceback.extract_tb(root.__traceback__)
                  if f'{os.sep}torch{os.sep}' not in f.filename]
        if frames:
            f = frames[-1]
            path = re.sub(r'^.*site-packages' + re.escape(os.sep), '', f.filename)
            out += f' (raised in {path}:{f.lineno}, {f.name}: {f.line})'
    return out[:500]


def _alarm(seconds: int):
    def handler(signum, frame):
        raise _Timeout(f'timed out after {seconds} s (the tool limit per row)')
    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)


def _neck_inputs(kwargs: dict) -> list:
    """The ways to feed a neck, in the order tried, each ``(H, W) -> (maps, )``: one map per
    ``in_channels`` entry at strides 4, 8, 16, ..., then the same maps in the reverse order
    (YOLOV3Neck lists its channels deepest first, its inputs come shallowest first), then the
    image followed by the maps (RFP runs its own backbone on the image again). The necks
    after a ViT (all entries equal, or one ``embed_dim`` per ``rescales`` entry:
    Feature2Pyramid, MLANeck, MultiLevelNeck) take maps of one size, at stride 16. One
    ``in_channels`` int with ``num_levels`` (BFP) is that many maps of those channels."""
    chans = kwargs.get('in_channels')
    if isinstance(chans, int):
        chans = [chans] * int(kwargs.get('num_levels', 1))
    chans = list(chans or [])
    if not chans and isinstance(kwargs.get('embed_dim'), int):
        chans = [kwargs['embed_dim']] * len(kwargs.get('rescales', [4, 2, 1, 0.5]))
    one_size = len(chans) > 1 and len(set(chans)) == 1 and 'num_levels' not in kwargs

    def maker(order, image=False):
        def inputs(h, w):
            maps = [torch.zeros(1, c, max(1, h // 2 ** (4 if one_size else i + 2)),
                                max(1, w // 2 ** (4 if one_size else i + 2)))
                    for i, c in enumerate(order)]
            return ([torch.zeros(1, 3, h, w)] * image + maps, )
        return inputs
    if not chans:
        return []
    return ([maker(chans)] + ([maker(chans[::-1])] if len(set(chans)) > 1 else [])
            + [maker(chans, image=True)])


def build(package: str, name: str, kwargs: dict):
    """``package``'s class ``name`` built from ``kwargs`` in that package's default scope, so
    that the layers it builds through mmcv by a bare type name (UNet's ``InterpConv``) are found
    in its registry."""
    from mmengine.registry import MODELS as ROOT
    with DefaultScope.overwrite_default_scope(package):
        return ROOT.build(dict(type=f'{package}.{name}', **kwargs))


def _first_dry_run(plain, feeds):
    """``find_candidates`` with the first way to feed ``plain`` that runs: each of ``feeds``
    (None: an image) at the default probe sizes, then at :data:`LARGER_SIZES`. Returns
    (candidates, sizes, the probe dict that worked); raises the first failure if none runs."""
    from attnplug.models.with_plugins import find_candidates
    first = None
    for sizes in (None, LARGER_SIZES):
        for feed in feeds:
            probe = {} if feed is None else dict(inputs=feed)
            if sizes is not None:
                probe['sizes'] = sizes
            try:
                found, used = find_candidates(plain, probe)
            except Exception as err:  # noqa: BLE001  the next feed or size may run
                first = first or err
                continue
            return found, used, probe
    raise first


def _randn_like_inputs(inputs, batch):
    return tuple([torch.randn(batch, *t.shape[1:]) for t in a] if isinstance(a, list) else
                 torch.randn(batch, *a.shape[1:]) for a in inputs)


def _tensors(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return []


def _eval(model):
    for m in model.modules():
        m.training = False


def check(package: str, kind: str, name: str, cls: type, plugins=PLUGINS,
          timeout: int = 240) -> List[Row]:
    """The rows of one registered class (one per plugin)."""
    from attnplug.models.with_plugins import PLUGINS_ATTR, WithPlugins, suggest_placements
    from attnplug.testing import randomise
    rows = [Row(package, kind, name, p) for p in plugins]
    t0 = time.time()

    def done(reason='', **fields):
        for r in rows:
            for k, v in fields.items():
                setattr(r, k, v)
            r.reason = r.reason or reason
            r.seconds = round(time.time() - t0, 1)
        return rows
    if NEEDS.get(name) and importlib.util.find_spec(NEEDS[name]) is None:
        return done(f'{name} needs the {NEEDS[name]!r} package, which this stack does not '
                    f'install (not importable here)')
    kwargs, source = wheel_config(package, name)
    if kwargs is None:  # the same-named class of the other wheel (mmseg's ResNeXt: mmdet's)
        other = 'mmdet' if package == 'mmseg' else 'mmseg'
        kwargs, source = wheel_config(other, name)
        source = f'{other} wheel: {source}' if kwargs is not None else ''
    if kwargs is None and name in MINIMAL:
        kwargs = dict(type=name, **MINIMAL[name])
        source = 'no wheel config; minimal: ' + ', '.join(f'{k}={v}' for k, v in
                                                          MINIMAL[name].items())
    if kwargs is None:
        return done(f'no config in the mmseg or mmdet wheel builds {name}')
    kwargs.pop('type')
    if name in SMALL:
        kwargs.update(SMALL[name])
        source += ' + small: ' + ', '.join(f'{k}={v}' for k, v in SMALL[name].items())
    for r in rows:
        r.config = source
    feeds = [None]
    if kind == 'neck':
        feeds = _neck_inputs(kwargs)
        if not feeds:
            return done('neck without in_channels: its inputs cannot be made')
    try:
        _alarm(timeout)
        plain = build(package, name, kwargs)
        found, sizes, probe = _first_dry_run(plain, feeds)
        places = {p.name: p for p in suggest_placements(plain, found)}
        place = next((places[k] for k in places
                      if k.startswith(('every block of stage', 'every layer of stage'))),
                     places.get('every block') or places.get('every layer')
                     or places.get('stage outputs')
                     or places.get('top-level parts')
                     or next((places[k] for k in places if k.startswith('parts at depth')
                              or k.endswith(' layer')), None))
        if place is None:
            return done('no repeated block or stage found among the '
                        f'{len(found)} candidate paths')
        after = place.after if isinstance(place.after, str) else json.dumps(place.after)
        for r in rows:
            r.placement, r.after, r.sites = place.name, after, len(place.paths)
        h, w = sizes[0]
        inputs = probe['inputs'](h, w) if kind == 'neck' else (torch.zeros(1, 3, h, w), )
        for row in rows:
            t1 = time.time()
            _alarm(timeout)
            try:
                with DefaultScope.overwrite_default_scope(package):
                    _check_plugin(row, plain, kwargs, package, name, place, probe, inputs,
                                  WithPlugins, PLUGINS_ATTR, randomise)
            except Exception as err:  # noqa: BLE001  the reason goes in the row
                row.reason = row.reason or reason_of(err)
            row.seconds = round(time.time() - t1, 1)
    except Exception as err:  # noqa: BLE001
        return done(reason_of(err))
    finally:
        signal.alarm(0)
    return rows


def _check_plugin(row, plain, kwargs, package, name, place, probe, inputs, WithPlugins,
                  PLUGINS_ATTR, randomise):
    wrapped = WithPlugins(wraps=f'{package}.{name}', probe=probe or None,
                          plugins=[dict(cfg=dict(type=f'attnplug.{row.plugin}'),
                                        after=place.after)], **kwargs)
    wrapped.init_weights()
    randomise(plain, seed=1, spread=0.3)
    # the plain model as its own state dict loads it: a layer may derive buffers on load
    # (mmcv's ConvAWS recomputes weight_gamma/weight_beta from the weight when the loaded
    # weight_gamma's mean is <= 0), and the wrapped model gets it through a load too
    plain.load_state_dict(plain.state_dict())
    res = wrapped.load_state_dict(plain.state_dict(), strict=False)
    plugin_keys = {k for k in wrapped.state_dict() if k.startswith(PLUGINS_ATTR + '.')}
    ok = (not res.unexpected_keys and set(res.missing_keys) <= plugin_keys
          and set(wrapped.state_dict()) - set(plain.state_dict()) == plugin_keys)
    row.keys = Status.PASS if ok else Status.FAIL
    if not ok:
        row.reason = (f'unexpected {res.unexpected_keys[:3]}, missing non-plugin '
                      f'{sorted(set(res.missing_keys) - plugin_keys)[:3]}')
    _eval(plain)
    _eval(wrapped)
    x = _randn_like_inputs(inputs, 1)
    with torch.no_grad():
        ref, out = _tensors(plain(*x)), _tensors(wrapped(*x))
    if row.plugin == 'CBAM':
        row.identity = Status.NA
    else:
        # relative to the output's scale, as ONNX's (a randomised deep model's outputs can
        # reach 1e12, where float32's own rounding is far above 1e-5)
        diff = max((a - b).abs().max().item() / max(1.0, a.abs().max().item())
                   for a, b in zip(ref, out))
        row.identity = Status.PASS if len(ref) == len(out) and diff <= 1e-5 else Status.FAIL
        if row.identity is Status.FAIL:
            row.reason = row.reason or f'identity: outputs differ by {diff:.3g} (relative)'
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=2)
    wrapped.train()
    xb = _randn_like_inputs(inputs, 2)
    outs = _tensors(wrapped(*xb))
    sum(o.float().square().mean() for o in outs).backward()
    grads = [p.grad for p in getattr(wrapped, PLUGINS_ATTR).parameters() if p.requires_grad]
    ok = (all(torch.isfinite(o).all() for o in outs) and grads
          and all(g is not None and torch.isfinite(g).all() for g in grads))
    row.fwd_bwd = Status.PASS if ok else Status.FAIL
    if not ok:
        row.reason = row.reason or 'fwd/bwd: a plugin got no gradient or a value is not finite'
    _eval(wrapped)
    row.onnx, reason = onnx_verdict(*_onnx_diff(wrapped, x), own=lambda: _onnx_diff(plain, x)[2])
    row.reason = row.reason or reason


#: onnxruntime's largest difference from PyTorch, relative to an output's scale
ONNX_TOL = 1e-4
#: ...or at most this multiple of the plain model's own export error where that exceeds it
ONNX_OWN_FACTOR = 1.5


def onnx_verdict(n_ref: int, n_got: int, diff: float, own) -> Tuple['Status', str]:
    """The onnx check of a row and its reason: ``n_ref``/``n_got`` outputs of PyTorch and
    onnxruntime, ``diff`` their largest relative difference; ``own()`` the plain model's own
    difference, asked for only when ``diff`` exceeds :data:`ONNX_TOL` (a deep model can, with
    no plugin at all), and then the plugins pass if they add no more than half of it again."""
    if n_got != n_ref:
        return Status.FAIL, f'onnx: {n_got} outputs from onnxruntime, {n_ref} from PyTorch'
    if diff <= ONNX_TOL:
        return Status.PASS, ''
    try:
        plain = own()
    except Exception as err:  # noqa: BLE001 -- the plain model's export failing is the reason
        plain, text = None, f'its export fails ({reason_of(err)[:100]})'
    else:
        text = f'{plain:.3g}'
    if plain is not None and diff <= ONNX_OWN_FACTOR * plain:
        return Status.PASS, (f'onnx: {diff:.3g} (relative), within the plain model\'s own '
                             f'export error {text}')
    return Status.FAIL, (f'onnx: onnxruntime differs by {diff:.3g} (relative); the plain model '
                         f'without plugins: {text}')


def _onnx_diff(model, x) -> Tuple[int, int, float]:
    """(outputs of ``model``, outputs of its ONNX export, the largest difference of
    onnxruntime from PyTorch relative to each output's scale) on the inputs ``x``."""
    import onnxruntime as ort
    buf = io.BytesIO()
    with torch.no_grad():
        ref = _tensors(model(*x))
        torch.onnx.export(model, x, buf, opset_version=18, dynamo=True, verbose=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    flat = [t for a in x for t in (a if isinstance(a, list) else [a])]
    feeds = {i.name: t.numpy() for i, t in zip(sess.get_inputs(), flat)}
    got = [torch.from_numpy(o) for o in sess.run(None, feeds)]
    diff = max((a - b).abs().max().item() / max(1.0, a.abs().max().item())
               for a, b in zip(ref, got))
    return len(ref), len(got), diff


# ------------------------------------------------------------------------------ output
def device_name() -> str:
    name = platform.processor() or 'CPU'
    try:
        with open('/proc/cpuinfo') as f:
            name = next((line.split(':', 1)[1].strip() for line in f
                         if line.startswith('model name')), name)
    except OSError:
        pass
    return f'{name} (CPU, {os.cpu_count()} cores visible)'


def table_row(r: Row) -> str:
    after = f'`{r.after}`' if r.after else '-'
    reason = ' '.join(re.sub(r'\x1b\[[0-9;]*m', '', r.reason).split()).replace('|', '\\|')
    config = r.config.replace('|', '\\|') or '-'
    return (f'| {r.package} | {r.kind} | {r.model} | {r.plugin} | {config} | '
            f'{r.placement or "-"} | {after} | {r.sites} | ' +
            ' | '.join(getattr(r, c).value for c in CHECKS) + f' | {reason} |')


def render(rows: List[Row], header: Dict[str, str], expected: int) -> str:
    green = sum(r.green for r in rows)
    lines = [START, '', f"- date: {header['date']}", f"- device: {header['device']}",
             f"- command: `{header['command']}`",
             f"- mmpretrain: {header['mmpretrain']}",
             f'- rows: {len(rows)} of {expected} (registered classes x plugins); all checks '
             f'green: {green}' + ('' if len(rows) >= expected else
                                  ' — **partial: the run was cut before every class was '
                                  'checked; the missing classes are not in the table**'),
             '', '| package | kind | model | plugin | config (in .mim/configs) | placement | after '
             '| sites | ' + ' | '.join(CHECKS) + ' | reason |',
             '|---|---|---|---|---|---|---|---:|' + '---|' * len(CHECKS) + '---|']
    lines += [table_row(r) for r in rows]
    lines += ['', END]
    return '\n'.join(lines)


def write_md(path: str, block: str) -> None:
    with open(path) as f:
        text = f.read()
    if START in text:
        a, b = text.index(START), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip('\n') + '\n\n## The support matrix (generated)\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='WithPlugins over every registered backbone/neck')
    p.add_argument('--only', nargs='+', help='check only these class names')
    p.add_argument('--jsonl', help='append one JSON line per row to this file, as they come')
    p.add_argument('--from-jsonl', nargs='+',
                   help='render rows saved by --jsonl (no checks run); rows of later files '
                   'replace those of earlier ones (a re-run of some classes)')
    p.add_argument('--md', help='write the table into this markdown file between the markers')
    p.add_argument('--timeout', type=int, default=240, help='seconds per row (default 240)')
    return p.parse_args(argv)


def main(argv=None) -> List[Row]:
    args = parse_args(argv)
    todo = [t for t in registered() if not args.only or t[2] in args.only]
    todo.sort(key=lambda t: (t[2] not in FIRST, FIRST.index(t[2]) if t[2] in FIRST else 0))
    expected = len(todo) * len(PLUGINS)
    if args.from_jsonl:
        # later files re-run some classes: their rows replace the earlier ones, in place
        header, by_key = None, {}
        for path in args.from_jsonl:
            with open(path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            if header is None:
                header = lines[0]['header']
            else:
                header = dict(header, command=header['command'] + '; re-run: ' +
                              lines[0]['header']['command'] + ' (' + lines[0]['header']['date']
                              + ')')
            for d in lines[1:]:
                row = Row.from_json(d)
                by_key[(row.package, row.kind, row.model, row.plugin)] = row
        rows = list(by_key.values())
    else:
        header = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'), device=device_name(),
            command='python tools/any_model_matrix.py ' + ' '.join(
                argv if argv is not None else sys.argv[1:]),
            mmpretrain=mmpretrain_status())
        if args.jsonl:
            with open(args.jsonl, 'w') as f:
                f.write(json.dumps(dict(header=header)) + '\n')
        rows = []
        for package, kind, name, cls in todo:
            torch.manual_seed(0)
            new = check(package, kind, name, cls, timeout=args.timeout)
            for r in new:
                print(table_row(r), flush=True)
            rows += new
            if args.jsonl:
                with open(args.jsonl, 'a') as f:
                    for r in new:
                        f.write(json.dumps(r.to_json()) + '\n')
    if args.md:
        write_md(args.md, render(rows, header, expected))
    return rows


if __name__ == '__main__':
    main()
