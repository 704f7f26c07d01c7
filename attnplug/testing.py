"""Checks of the attnplug plugin contract, shared by the test-suite and usable
for third-party plugins.

Every attnplug plugin

* takes ``in_channels`` by keyword (so :func:`mmcv.cnn.build_plugin_layer` can build it);
* returns a tensor of the input's shape, at any ``H x W`` (odd, non-square);
* if residual-style, starts as an exact identity and re-applies that in ``init_weights()``;
* stays finite under fp16/bf16 autocast, forward and backward;
* runs under ``torch.use_deterministic_algorithms(True)``;
* exports to ONNX (opset 17) with onnxruntime matching PyTorch.

Each ``assert_*`` function raises ``AssertionError`` with the module's name on failure.
:func:`randomise` gives a module non-trivial weights and BN statistics for equality checks
against reference implementations.
"""
import copy
import io
from typing import Sequence, Tuple

import torch
import torch.nn as nn


def randomise(module: nn.Module, seed: int = 0, spread: float = 0.4,
              dist: str = 'uniform') -> nn.Module:
    """Overwrite every floating-point parameter and buffer in place, so that equal outputs
    of two models that share a state dict mean equal models (zero-initialised gammas and
    identity-at-init blocks included).

    With ``dist='uniform'``, values are uniform in ``[-spread/2, spread/2]``; buffers whose
    name contains ``var`` (BN running variances) are uniform in ``[1 - spread/2, 1 + spread/2]``.
    With ``dist='normal'``, parameters are ``N(0, spread²)``, then BN running means
    ``N(0, 0.01)`` and running variances uniform in ``[0.5, 1.5]``.

    Returns:
        nn.Module: ``module``.
    """
    if dist not in ('uniform', 'normal'):
        raise ValueError(f"randomise: dist must be 'uniform' or 'normal', got {dist!r}")
    gen = torch.Generator().manual_seed(seed)
    if dist == 'normal':
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * spread)
            for name, buf in module.named_buffers():
                if name.endswith('running_var'):
                    buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
                elif name.endswith('running_mean'):
                    buf.copy_(torch.randn(buf.shape, generator=gen) * 0.1)
        return module
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.dtype.is_floating_point:
                centre = 1.0 if 'var' in name else 0.0
                t.copy_(torch.rand(t.shape, generator=gen) * spread + (centre - spread / 2))
    return module


def perturb(module: nn.Module, seed: int = 0, std: float = 0.3) -> nn.Module:
    """:func:`randomise` with normal weights ``N(0, std²)`` (and random BN statistics): the
    layer tests' way to make a zero-initialised block non-trivial before comparing it with a
    reference implementation."""
    return randomise(module, seed=seed, spread=std, dist='normal')


def _name(module: nn.Module) -> str:
    return type(module).__name__


def _kaiming_everything(module: nn.Module) -> None:
    """What a backbone's default init does to its children after they are built."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            if m.bias is not None:
                nn.init.normal_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight)
                nn.init.normal_(m.bias)


def assert_shape_preserved(module: nn.Module, in_channels: int,
                           sizes: Sequence[Tuple[int, int]] = ((23, 31), (7, 7), (1, 5)),
                           batch: int = 2) -> None:
    module = module.eval()
    for h, w in sizes:
        x = torch.randn(batch, in_channels, h, w)
        with torch.no_grad():
            y = module(x)
        assert tuple(y.shape) == tuple(x.shape), (
            f'{_name(module)}: output shape {tuple(y.shape)} != input shape {tuple(x.shape)}')
        assert torch.isfinite(y).all(), f'{_name(module)}: non-finite output at {h}x{w}'


def assert_identity_at_init(module: nn.Module, in_channels: int, size=(11, 13)) -> None:
    """The module is the identity after ``init_weights()``, even after a
    backbone-style Kaiming init of all its weights ran first."""
    module = copy.deepcopy(module)
    _kaiming_everything(module)
    module.init_weights()
    module.eval()
    x = torch.randn(2, in_channels, *size)
    with torch.no_grad():
        y = module(x)
    assert torch.equal(y, x), (
        f'{_name(module)}: not an identity at init (max |y - x| = {(y - x).abs().max():.3g})')


def assert_amp_finite(module: nn.Module, in_channels: int, size=(23, 31),
                      dtypes=(torch.bfloat16, torch.float16), device='cpu') -> None:
    for dtype in dtypes:
        m = copy.deepcopy(module).train().to(device)
        x = (torch.randn(2, in_channels, *size, device=device) * 4).requires_grad_()
        with torch.autocast(device_type=device, dtype=dtype):
            y = m(x)
        assert torch.isfinite(y.float()).all(), f'{_name(m)}: non-finite {dtype} forward'
        y.float().square().mean().backward()
        assert torch.isfinite(x.grad).all(), f'{_name(m)}: non-finite {dtype} input grad'
        for n, p in m.named_parameters():
            if p.grad is not None:
                assert torch.isfinite(p.grad).all(), f'{_name(m)}: non-finite {dtype} grad of {n}'


def assert_deterministic(module: nn.Module, in_channels: int, size=(23, 31)) -> None:
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        outs, grads = [], []
        x0 = torch.randn(2, in_channels, *size)
        for _ in range(2):
            m = copy.deepcopy(module).train()
            x = x0.clone().requires_grad_()
            y = m(x)
            y.square().mean().backward()
            outs.append(y.detach())
            grads.append(x.grad)
        assert torch.equal(outs[0], outs[1]), f'{_name(module)}: forward is not deterministic'
        assert torch.equal(grads[0], grads[1]), f'{_name(module)}: backward is not deterministic'
    finally:
        torch.use_deterministic_algorithms(prev)


def assert_onnx_parity(module: nn.Module, in_channels: int, size=(23, 31),
                       atol: float = 1e-4, opset: int = 17) -> None:
    """Export with ``torch.onnx.export`` (opset 17) and compare onnxruntime with PyTorch."""
    import onnxruntime as ort

    module = copy.deepcopy(module).eval()
    x = torch.randn(1, in_channels, *size)
    with torch.no_grad():
        ref = module(x)
    buf = io.BytesIO()
    torch.onnx.export(module, (x, ), buf, opset_version=opset, input_names=['x'],
                      output_names=['y'], dynamo=True, verbose=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    out = torch.from_numpy(sess.run(None, {'x': x.numpy()})[0])
    diff = (out - ref).abs().max().item()
    assert diff <= atol, f'{_name(module)}: onnxruntime differs from PyTorch by {diff:.3g} > {atol}'


def largest_tensor():
    """A context manager that records the largest tensor any ATen op returns inside it
    (forward and backward), through a dispatch mode: ``.largest`` elements, made by ``.op``.
    The N×N probe of the attention tests::

        with largest_tensor() as probe:
            head(inputs)
        assert probe.largest < n * n
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Largest(TorchDispatchMode):

        def __init__(self):
            super().__init__()
            self.largest, self.op = 0, None

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.numel() > self.largest:
                    self.largest, self.op = t.numel(), func
            return out

    return _Largest()


def assert_no_quadratic_tensor(module: nn.Module, in_channels: int, size=(40, 40),
                               batch: int = 1, grad: bool = True) -> int:
    """No tensor produced by any op of the forward (and backward, with ``grad``) has
    ``batch · N²`` or more elements (N = H·W): the module never materialises an N×N map.

    Records the output of every ATen op with :func:`largest_tensor`; what happens inside one
    fused kernel (e.g. SDPA's flash attention) is invisible, and that is what makes it O(N).
    Returns the largest element count seen.
    """
    module = copy.deepcopy(module).train(grad)
    n = size[0] * size[1]
    x = torch.randn(batch, in_channels, *size, requires_grad=grad)
    with largest_tensor() as mode:
        with torch.set_grad_enabled(grad):
            y = module(x)
            if grad:
                y.square().mean().backward()
    limit = batch * n * n
    assert mode.largest < limit, (
        f'{_name(module)}: {mode.op} produced a tensor of {mode.largest} elements '
        f'>= B·N² = {limit} at {size[0]}x{size[1]}: an N×N map was built')
    return mode.largest


def assert_layer_contract(module: nn.Module, in_channels: int, linear_memory: bool = True,
                          size=(24, 24)) -> None:
    """The checks every layer's ``test_contract`` runs: shape preserved at odd sizes, finite
    under bf16/fp16 autocast (forward and gradients), deterministic, and, with
    ``linear_memory``, no tensor of the forward or backward above ``2·C·H·W`` elements (a
    per-pixel map per channel at most: bounded like CBAM, nowhere near N×N)."""
    assert_shape_preserved(module, in_channels)
    assert_amp_finite(module, in_channels)
    assert_deterministic(module, in_channels)
    if linear_memory:
        largest = assert_no_quadratic_tensor(module, in_channels, size=size)
        bound = 2 * in_channels * size[0] * size[1]
        assert largest <= bound, (f'{_name(module)}: a tensor of {largest} elements > '
                                  f'2·C·H·W = {bound} at {size[0]}x{size[1]}')


def mmseg_head_pair(ours_cls, ref_cls, ours_only: Sequence[str] = ('memory_budget',
                                                                   'block_size'), **kwargs):
    """(reference, attnplug) decode heads built from the same arguments (``ours_only`` go to
    attnplug's alone), with the reference's random weights (:func:`randomise`) loaded into
    attnplug's strictly: the drop-in keeps every state-dict key."""
    ref = randomise(ref_cls(**{k: v for k, v in kwargs.items() if k not in ours_only}))
    ours = ours_cls(**kwargs)
    result = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    return ref, ours


def assert_head_matches(ref: nn.Module, ours: nn.Module, inputs, num_classes: int,
                        img_shape=(45, 61), atol: float = 1e-4) -> None:
    """In eval mode, attnplug's head gives the reference's logits (at the feature size) and
    its ``predict`` the reference's (resized to ``img_shape``)."""
    ref.eval(), ours.eval()
    with torch.no_grad():
        out = ours(inputs)
        assert out.shape == (inputs[0].shape[0], num_classes, *inputs[0].shape[2:]), out.shape
        torch.testing.assert_close(out, ref(inputs), atol=atol, rtol=0)
        metas = [dict(img_shape=img_shape)] * inputs[0].shape[0]
        torch.testing.assert_close(ours.predict(inputs, metas, test_cfg={}),
                                   ref.predict(inputs, metas, test_cfg={}), atol=atol, rtol=0)


def assert_head_loss_matches(ref: nn.Module, ours: nn.Module, inputs, num_classes: int,
                             label_shape=(45, 61), atol: float = 1e-4,
                             compare_grads: bool = False) -> dict:
    """In training mode, attnplug's head gives the reference's losses on the same seeded
    labels (dropout seeded alike), and every parameter gets a finite gradient (with
    ``compare_grads``, the reference's gradient within 1e-4 + 1e-3 relative). Returns
    attnplug's losses."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    ref.train(), ours.train()
    gen = torch.Generator().manual_seed(0)
    samples = [SegDataSample(gt_sem_seg=PixelData(
        data=torch.randint(0, num_classes, (1, *label_shape), generator=gen)))
        for _ in range(inputs[0].shape[0])]
    torch.manual_seed(1)
    expected = ref.loss(inputs, samples, train_cfg={})
    torch.manual_seed(1)
    got = ours.loss(inputs, samples, train_cfg={})
    assert set(got) == set(expected) == {'loss_ce', 'acc_seg'}, set(got)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=atol, rtol=0)
    got['loss_ce'].backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if compare_grads:
        expected['loss_ce'].backward()
        ref_params = dict(ref.named_parameters())
        for name, p in ours.named_parameters():
            torch.testing.assert_close(p.grad, ref_params[name].grad, atol=1e-4, rtol=1e-3,
                                       msg=name)
    return got


class _HeadOnTensor(nn.Module):
    """A decode head called on one tensor (heads take a list of feature maps)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x):
        return self.head([x])


def assert_head_onnx_parity(head: nn.Module, x: torch.Tensor, opset: int = 17,
                            atol: float = 1e-4) -> bytes:
    """``torch.onnx.export(dynamo=True)`` of the eval head on ``x``, and onnxruntime's output
    within ``atol`` of PyTorch's. Returns the ONNX model's bytes."""
    import onnxruntime as ort
    head.eval()
    with torch.no_grad():
        expected = head([x])
    buf = io.BytesIO()
    torch.onnx.export(_HeadOnTensor(head).eval(), (x, ), buf, opset_version=opset,
                      input_names=['x'], output_names=['y'], dynamo=True, verbose=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    got = torch.from_numpy(sess.run(None, {'x': x.numpy()})[0])
    torch.testing.assert_close(got, expected, atol=atol, rtol=0)
    return buf.getvalue()


def stock_tool(package: str, name: str) -> str:
    """The path of an installed OpenMMLab package's own ``tools/<name>.py`` (the copy its wheel
    ships under ``.mim/``), e.g. ``stock_tool('mmseg', 'train')``: the unchanged stock tools
    that the end-to-end tests run attnplug's configs through."""
    import importlib.util
    import os.path as osp
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f'stock_tool: {package} is not installed')
    return osp.join(osp.dirname(spec.origin), '.mim', 'tools', f'{name}.py')


def repo_script(path: str):
    """Deprecated: use ``benchmarks.paths.repo_script`` (the repository's scripts are found from
    the checkout, which an installed ``attnplug`` does not know). Delegates to it, so it works
    only where the repository root is on ``sys.path``."""
    import warnings
    warnings.warn('attnplug.testing.repo_script is deprecated; use benchmarks.paths.repo_script '
                  '(a checkout of the repository, not the installed package)',
                  DeprecationWarning, stacklevel=2)
    try:
        from benchmarks.paths import repo_script as from_checkout
    except ImportError as e:
        raise ImportError(f'repo_script({path!r}): needs a checkout of the attnplug repository '
                          'on sys.path (benchmarks/paths.py); the installed package has no '
                          'repository scripts') from e
    return from_checkout(path)


# --- Golden records of the authors' code -------------------------------------------------------
#
# A golden record is one ``.pt`` file under ``tests/golden/authors/`` (docs: tests/golden/README.md),
# written by a script that ran the authors' released module *outside* this repository on seeded
# weights and inputs. Only tensors, numbers and strings are stored, so it loads with
# ``torch.load(weights_only=True)``; no author code enters the project.

GOLDEN_KEYS = ('provenance', 'authors_kwargs', 'state_dict', 'inputs', 'outputs')
PROVENANCE_KEYS = ('repo', 'commit', 'file', 'cls')

# Where each loaded record came from, {id(record): (path, record)}, and the observers that
# assert_matches_golden reports its comparisons to (tools/faithfulness.py registers one while it
# runs the golden tests; the tests themselves never write anything).
_GOLDEN_PATHS = {}
_GOLDEN_OBSERVERS = []


def load_golden(path) -> dict:
    """Load and validate a golden record (see ``tests/golden/README.md``).

    Raises:
        ValueError: the file lacks a key, its provenance lacks a field, or an output mode is
            not ``'train'``/``'eval'``.
    """
    record = torch.load(path, map_location='cpu', weights_only=True)
    missing = [k for k in GOLDEN_KEYS if k not in record]
    if missing:
        raise ValueError(f'golden record {path}: missing keys {missing}; expected {GOLDEN_KEYS}')
    prov = record['provenance']
    lacking = [k for k in PROVENANCE_KEYS if not prov.get(k)]
    if lacking:
        raise ValueError(f'golden record {path}: provenance lacks {lacking}; '
                         f'expected {PROVENANCE_KEYS}')
    bad = sorted(set(record['outputs']) - {'train', 'eval'})
    if bad:
        raise ValueError(f"golden record {path}: output modes {bad}; expected 'train'/'eval'")
    _GOLDEN_PATHS[id(record)] = (str(path), record)
    return record


def golden_record_path(record: dict):
    """The file a record was loaded from by :func:`load_golden` (None for another dict)."""
    entry = _GOLDEN_PATHS.get(id(record))
    return entry[0] if entry is not None and entry[1] is record else None


def map_golden_state_dict(module: nn.Module, authors: dict, key_map=None,
                          drop=(), keep_missing: bool = False) -> dict:
    """The authors' state dict ``authors`` in ``module``'s keys and shapes.

    ``key_map`` renames keys: a dict ``{authors' key or prefix: attnplug's}`` (the longest
    matching prefix wins) or a function of the key; keys starting with an entry of ``drop`` are
    left out. A value whose shape differs from the module's but has as many elements is
    reshaped (an ``nn.Linear`` weight ``(out, in)`` into a 1x1 conv's ``(out, in, 1, 1)``, a
    ``(1, )`` gain into a scalar). Raises ``KeyError`` when a key of either side is left over,
    so that a mapping cannot silently skip a weight; with ``keep_missing`` the module's keys
    that the authors lack keep the module's current values instead (for comparing a variant
    that has more weights than the authors' code, e.g. the paper's final BNs)."""
    own = module.state_dict()
    mapped = {}
    for key, value in authors.items():
        if any(key.startswith(d) for d in drop):
            continue
        if callable(key_map):
            new = key_map(key)
        else:
            prefixes = [p for p in (key_map or {}) if key.startswith(p)]
            new = key
            if prefixes:
                p = max(prefixes, key=len)
                new = key_map[p] + key[len(p):]
        if new not in own:
            raise KeyError(f'{_name(module)}: the authors\' {key!r} maps to {new!r}, which is '
                           f'not a key of the module')
        if value.shape != own[new].shape:
            if value.numel() != own[new].numel():
                raise KeyError(f'{_name(module)}: {key!r} {tuple(value.shape)} does not fit '
                               f'{new!r} {tuple(own[new].shape)}')
            value = value.reshape(own[new].shape)
        mapped[new] = value
    missing = sorted(set(own) - set(mapped))
    if keep_missing:
        return {k: mapped.get(k, own[k]) for k in own}
    if missing:
        raise KeyError(f'{_name(module)}: no authors\' weight maps to {missing}')
    return mapped


def golden_max_diff(module: nn.Module, record: dict, state_dict: dict) -> dict:
    """Run ``module`` with ``state_dict`` loaded strictly on the record's inputs, in each mode
    the record holds; return ``{mode: max |module - authors|}``. The module is left in eval
    mode. BN statistics updated by a train-mode pass are restored before the next mode."""
    module.load_state_dict(state_dict, strict=True)
    saved = copy.deepcopy(module.state_dict())
    diffs = {}
    for mode in ('train', 'eval'):
        if mode not in record['outputs']:
            continue
        module.load_state_dict(saved)
        module.train(mode == 'train')
        with torch.no_grad():
            out = module(*record['inputs'])
        expected = record['outputs'][mode]
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.shape != expected.shape:
            raise AssertionError(f'{_name(module)}: output {tuple(out.shape)} against the '
                                 f'authors\' {tuple(expected.shape)} ({mode})')
        diffs[mode] = (out.float() - expected.float()).abs().max().item()
    module.eval()
    return diffs


def assert_matches_golden(module: nn.Module, record: dict, state_dict: dict,
                          atol: float = 1e-5) -> dict:
    """``module`` with the authors' weights (mapped into ``state_dict``) equals the authors'
    outputs within ``atol`` in every recorded mode, and stops equalling them when one weight
    is perturbed (the check can fail). Returns the max differences by mode."""
    diffs = golden_max_diff(module, record, state_dict)
    prov = record['provenance']
    where = f"{prov['repo']}@{prov['commit'][:10]} {prov['file']}:{prov['cls']}"
    for mode, d in diffs.items():
        assert d <= atol, f'{_name(module)} differs from {where} by {d:.3g} > {atol} ({mode})'
    floating = [k for k, v in state_dict.items() if v.is_floating_point() and v.numel() > 0
                and 'running' not in k]
    if floating:
        # the weight with the most elements: a shift of all of it must show in the output
        key = max(floating, key=lambda k: state_dict[k].numel())
        bent = dict(state_dict)
        bent[key] = state_dict[key] + 0.5 + state_dict[key].abs()
        bent_diffs = golden_max_diff(module, record, bent)
        assert max(bent_diffs.values()) > 10 * atol, (
            f'{_name(module)}: perturbing {key} left the output within {atol} of {where}: '
            'the golden comparison cannot fail')
        module.load_state_dict(state_dict)
    # only a comparison that holds is reported (a test may expect one to fail)
    for observer in _GOLDEN_OBSERVERS:
        observer(dict(kind='match', path=golden_record_path(record), provenance=dict(prov),
                      module=_name(module), diffs=dict(diffs), atol=atol))
    return diffs


def assert_departs_from_golden(module: nn.Module, record: dict, state_dict: dict,
                               min_diff: float = 1e-3) -> dict:
    """``module`` -- attnplug's default (the paper's) variant, with the authors' weights mapped
    into ``state_dict`` -- differs from the authors' outputs by more than ``min_diff`` in every
    recorded mode: the departure that the authors' variant argument exists for is real.
    Returns the max differences by mode (tools/faithfulness.py shows them)."""
    diffs = golden_max_diff(module, record, state_dict)
    prov = record['provenance']
    assert min(diffs.values()) > min_diff, (
        f"{_name(module)} at its defaults equals {prov['repo']} {prov['cls']} within "
        f'{min(diffs.values()):.3g}: no departure to document')
    for observer in _GOLDEN_OBSERVERS:  # reported once it holds
        observer(dict(kind='departure', path=golden_record_path(record), provenance=dict(prov),
                      module=_name(module), diffs=dict(diffs), atol=min_diff))
    return diffs


# --- Golden records of whole backbones ---------------------------------------------------------
#
# A pretrained backbone's state dict (25 M values for a ResNet-50) is too big to commit. Its
# record stores the authors' key names and shapes and a seed instead (``record['weights']``), and
# both the script that ran the authors' model and the test fill those keys with
# :func:`seeded_state_dict`, which depends only on (seed, key, shape, dtype). The record's
# ``state_dict`` is then empty; :func:`golden_state_dict` returns the weights either way.


def seeded_tensor(key: str, shape, dtype: torch.dtype = torch.float32,
                  seed: int = 0) -> torch.Tensor:
    """A deterministic tensor for state-dict entry ``key`` (fp32 unless ``dtype`` says otherwise),
    scaled so that a deep network stays finite and O(1): weights of rank >= 2 are
    ``N(0, 1/fan_in)``, 1-d ``weight`` (norm scales) uniform in [0.5, 1.5], ``running_var``
    uniform in [0.5, 1.5], ``running_mean`` and biases ``N(0, 0.1²)``, integer tensors
    (``num_batches_tracked``) zero. Each key has its own generator (``seed`` and the CRC-32 of
    the key), so the order of the keys does not matter."""
    import zlib
    shape = tuple(int(s) for s in shape)
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
    leaf = key.rsplit('.', 1)[-1]
    if leaf == 'running_var' or (leaf == 'weight' and len(shape) == 1):
        t = torch.rand(shape, generator=gen) + 0.5
    elif len(shape) >= 2:
        fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
        t = torch.randn(shape, generator=gen) / fan_in**0.5
    else:
        t = torch.randn(shape, generator=gen) * 0.1
    return t.to(dtype)


def seeded_state_dict(spec: dict) -> dict:
    """The state dict described by ``spec = dict(seed=int, shapes={key: [..]}, dtypes={key: str})``
    (the ``weights`` entry of a backbone record), filled by :func:`seeded_tensor`."""
    dtypes = spec.get('dtypes', {})
    return {k: seeded_tensor(k, shape, getattr(torch, dtypes.get(k, 'float32')), spec['seed'])
            for k, shape in spec['shapes'].items()}


def state_dict_spec(state_dict: dict, seed: int = 0) -> dict:
    """The ``weights`` entry of a record for ``state_dict``: its keys, shapes and dtypes."""
    return dict(seed=seed, shapes={k: list(v.shape) for k, v in state_dict.items()},
                dtypes={k: str(v.dtype).replace('torch.', '') for k, v in state_dict.items()})


def golden_state_dict(record: dict) -> dict:
    """The authors' weights of a golden record: ``record['state_dict']``, or, where that is
    empty, the weights regenerated from ``record['weights']`` (:func:`seeded_state_dict`)."""
    if record['state_dict']:
        return dict(record['state_dict'])
    if 'weights' not in record:
        raise ValueError("golden record: empty 'state_dict' and no 'weights' spec to regenerate it")
    return seeded_state_dict(record['weights'])
