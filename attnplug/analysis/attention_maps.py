"""Attention and gate maps of attnplug's modules, for visualisation.

Two kinds of map, both ``(B, h, w)`` fp32 on the module's input grid (or its key grid):

* **gate maps**, one per image: the spatial weights a module multiplies its input with
  (CBAM's ``Ms``, the attention gate's ``alpha``, scSE's spatial gate, BAM's and coordinate
  attention's weights averaged over channels) or the softmax pooling weights of a global
  context block;
* **query maps**, one per image and query point: where one position looks, i.e. one row of
  the attention matrix (DANet's position attention, non-local blocks, multi-head
  self-attention averaged over heads), or for recurrent criss-cross attention the composition
  of its R passes (how the R crosses route information from every pixel to the query).

Every map is recomputed from the module's weights and the input it saw (captured with a
forward hook, :class:`AttentionRecorder`), so the layers need no recording switch, no map is
kept during normal runs, and no N×N matrix is built: a query map is O(N) (criss-cross:
O(N·(H+W)) per pass). Channel-only modules (SE, ECA, CAM, SK, ARM) have no spatial map and
are skipped.

Query points are ``(x, y)`` fractions of the module's input grid, ``(0.5, 0.5)`` being the
centre; :func:`grid_point` maps them to a ``(row, col)`` cell.
"""
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..functional.bounded_attention import attention_probs
from ..functional.criss_cross import criss_cross_attention, criss_cross_energies

__all__ = ['AttentionMap', 'grid_point', 'supported_types', 'find_modules',
           'module_attention_maps', 'AttentionRecorder', 'register_extractor',
           'DEFAULT_MODULES']

#: (x, y) fractions of a map's width and height.
QueryPoint = Tuple[float, float]

#: Everything attnplug can draw, in the hook's default ``modules``.
DEFAULT_MODULES = ('CBAM', 'AttentionGate', 'BAM', 'SCSE', 'CoordAttention',
                   'GlobalContextBlock', 'PositionAttention', 'NonLocal2d',
                   'MultiHeadSelfAttention2d', 'CrissCrossAttention')


@dataclass
class AttentionMap:
    """One map of one module for a batch.

    Attributes:
        module (str): The module's name in the model (``backbone.layer4.0.cbam``).
        type (str): Its class name.
        label (str): What the map is (``'spatial gate'``, ``'query (0.50, 0.50)'``).
        maps (Tensor): (B, h, w) fp32 on the CPU.
        query (tuple[float, float], optional): The query point as (x, y) fractions of the
            input grid, for query maps. None for gate maps.
    """
    module: str
    type: str
    label: str
    maps: torch.Tensor
    query: Optional[QueryPoint] = None


def grid_point(point: QueryPoint, h: int, w: int) -> Tuple[int, int]:
    """``(x, y)`` fractions -> the ``(row, col)`` of the cell of an ``h × w`` grid that
    contains that point (cell ``i`` spans ``[i/h, (i+1)/h)``)."""
    x, y = float(point[0]), float(point[1])
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f'query point {point} must be (x, y) fractions in [0, 1]')
    return min(int(y * h), h - 1), min(int(x * w), w - 1)


# --------------------------------------------------------------------------- extractors
# Each extractor takes (module, args, kwargs, points) -- the positional and keyword inputs
# of the module's forward -- and returns [(label, (B, h, w) tensor, query point or None)].
Extractor = Callable[[nn.Module, tuple, dict, Sequence[QueryPoint]],
                     List[Tuple[str, torch.Tensor, Optional[QueryPoint]]]]
_EXTRACTORS: Dict[str, Extractor] = {}


def register_extractor(type_name: str):
    """Register a map extractor for modules whose class is named ``type_name``."""

    def wrap(fn: Extractor) -> Extractor:
        _EXTRACTORS[type_name] = fn
        return fn

    return wrap


def supported_types() -> Tuple[str, ...]:
    return tuple(sorted(_EXTRACTORS))


def _input(args: tuple, kwargs: dict, name: str = 'x', index: int = 0) -> torch.Tensor:
    return args[index] if len(args) > index else kwargs[name]


def _query_label(p: QueryPoint) -> str:
    return f'query ({p[0]:.2f}, {p[1]:.2f})'


@register_extractor('CBAM')
def _cbam(m, args, kwargs, points):
    x = _input(args, kwargs)
    # Eq. 1 of arXiv 1807.06521: Ms is applied to the channel-refined F' = Mc(F) * F.
    refined = x * m.channel_attention(x)
    return [('spatial gate Ms', m.spatial_attention(refined)[:, 0], None)]


@register_extractor('AttentionGate')
def _attention_gate(m, args, kwargs, points):
    x = _input(args, kwargs)
    g = _input(args, kwargs, 'g', 1)
    _, alpha = m(x, g, return_attention=True)
    return [('gate alpha', alpha[:, 0], None)]


@register_extractor('SCSE')
def _scse(m, args, kwargs, points):
    x = _input(args, kwargs)
    return [('spatial gate (sSE)', m.gate(m.spatial_conv(x))[:, 0], None)]


@register_extractor('BAM')
def _bam(m, args, kwargs, points):
    x = _input(args, kwargs)
    mc = m.channel_branch(x.mean(dim=(2, 3), keepdim=True))
    ms = m.spatial_branch(x)
    return [('attention, channel mean', m.gate(mc + ms).mean(dim=1), None)]


@register_extractor('CoordAttention')
def _coord_attention(m, args, kwargs, points):
    x = _input(args, kwargs)
    h, w = x.shape[2:]
    z_h = x.mean(dim=3, keepdim=True)
    z_w = x.mean(dim=2, keepdim=True).transpose(2, 3)
    f = m.act(m.norm(m.conv_shared(torch.cat([z_h, z_w], dim=2))))
    f_h, f_w = torch.split(f, [h, w], dim=2)
    g = m.gate(m.conv_h(f_h)) * m.gate(m.conv_w(f_w)).transpose(2, 3)  # (B, C, H, W)
    return [('gate g_h·g_w, channel mean', g.mean(dim=1), None)]


@register_extractor('GlobalContextBlock')
def _context_block(m, args, kwargs, points):
    if m.pooling_type != 'att':
        return []  # average pooling: uniform weights, nothing to show
    x = _input(args, kwargs)
    b, _, h, w = x.shape
    weights = m.conv_mask(x).flatten(2).float().softmax(dim=-1)
    return [('context pooling weights', weights.reshape(b, h, w), None)]


@register_extractor('PositionAttention')
def _position_attention(m, args, kwargs, points):
    x = _input(args, kwargs)
    h, w = x.shape[2:]
    return [(_query_label(p), m.attention_map(x, grid_point(p, h, w)), p) for p in points]


@register_extractor('NonLocal2d')
def _non_local(m, args, kwargs, points):
    x = _input(args, kwargs)
    h, w = x.shape[2:]
    if m.mode == 'gaussian':
        query = x
        key = m._keys(m.phi, x) if m.sub_sample else x
    else:
        query = m.theta(x)
        key = m._keys(m.phi, x)
    hk, wk = key.shape[2:]  # the key grid (half size with sub_sample)
    q = query.flatten(2).transpose(1, 2)  # (B, N, c)
    k = key.flatten(2).transpose(1, 2)
    out = []
    for p in points:
        r, c = grid_point(p, h, w)
        idx = r * w + c
        if m.mode == 'dot_product':
            probs = attention_probs(q[:, idx:idx + 1], k, scale=1.0, mode='dot_product')
        else:
            scale = q.shape[-1]**-0.5 if (m.mode == 'embedded_gaussian'
                                          and m.use_scale) else 1.0
            probs = attention_probs(q[:, idx:idx + 1], k, scale=scale)
        out.append((_query_label(p), probs.reshape(x.shape[0], hk, wk), p))
    return out


@register_extractor('MultiHeadSelfAttention2d')
def _mhsa(m, args, kwargs, points):
    # Recomputes the projections of MultiHeadSelfAttention2d.forward (queries and keys only).
    from ..layers.multi_head_attention import sinusoidal_position_2d

    x = _input(args, kwargs)
    b, c, h, w = x.shape
    inner = m.num_heads * m.head_channels
    wgt, bias = m.qkv.weight, m.qkv.bias
    src = x
    if m.pos_encoding == 'absolute':
        src = x + sinusoidal_position_2d(h, w, c, m.temperature, x.device).to(x.dtype)
    qk = F.conv2d(src, wgt[:2 * inner], None if bias is None else bias[:2 * inner])
    q, k = (m._split_heads(t) for t in (qk[:, :inner], qk[:, inner:]))  # (B, heads, N, d)
    out = []
    for p in points:
        r, col = grid_point(p, h, w)
        idx = r * w + col
        if m.pos_encoding == 'relative':
            qs = q * m.head_channels**-0.5
            rel = m._relative_logits(qs, h, w)(idx, idx + 1)  # (B, heads, 1, N)
            probs = attention_probs(qs[:, :, idx:idx + 1], k, scale=1.0, bias=rel)
        else:
            probs = attention_probs(q[:, :, idx:idx + 1], k)  # scale d^-0.5 as forward
        out.append((_query_label(p) + f', mean of {m.num_heads} heads',
                    probs.mean(dim=1).reshape(b, h, w), p))
    return out


def _criss_cross_propagate(weights: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Push a (B, H, W) weighting of pixels u through one criss-cross pass: returns
    ``Σ_u weights[u] · A[u, :]`` as (B, H, W), with ``A`` of
    :func:`criss_cross_energies`' layout (B, H, W, H + W) after the softmax."""
    h = attn.shape[1]
    col, row = attn[..., :h], attn[..., h:]
    # u = (r, c): its column weights A[u, i] reach pixel (i, c); its row weights A[u, H + j]
    # reach pixel (r, j).
    out = torch.einsum('bhw,bhwi->biw', weights, col)
    return out + torch.einsum('bhw,bhwj->bhj', weights, row)


@register_extractor('CrissCrossAttention')
def _criss_cross(m, args, kwargs, points):
    x = _input(args, kwargs)
    b, _, h, w = x.shape
    # The input of every pass (the forward loop), and each pass's full criss-cross
    # attention: O(N·(H+W)), never N×N.
    attns = []
    for _ in range(m.recurrence):
        query, key = m.query_conv(x), m.key_conv(x)
        attns.append(criss_cross_energies(query, key).softmax(dim=-1))
        x = m.gamma(criss_cross_attention(query, key, m.value_conv(x))) + x
    out = []
    for p in points:
        r, c = grid_point(p, h, w)
        weights = torch.zeros(b, h, w, device=x.device)
        weights[:, r, c] = 1.0
        # The last pass acts first when tracing back from the query (Sec. 3.3 of
        # arXiv 1811.11721: R = 2 passes connect every pixel to every other one).
        for attn in reversed(attns):
            weights = _criss_cross_propagate(weights, attn)
        label = _query_label(p) + (f', {m.recurrence} passes composed'
                                   if m.recurrence > 1 else '')
        out.append((label, weights, p))
    return out


# ------------------------------------------------------------------------ module search
def _matches(name: str, module: nn.Module, pattern: str) -> bool:
    cls = type(module).__name__
    return (pattern == cls or pattern == name or fnmatch.fnmatchcase(name, pattern)
            or fnmatch.fnmatchcase(cls, pattern))


def find_modules(model: nn.Module, patterns: Sequence[str] = DEFAULT_MODULES
                 ) -> List[Tuple[str, nn.Module]]:
    """The submodules of ``model`` that match any of ``patterns`` and have a map extractor.

    A pattern is a class name (``'CBAM'``), a module name (``'decode_head.pam'``) or a
    shell-style pattern over either (``'backbone.layer4.*'``, ``'*Attention*'``). Modules
    nested inside a matched module (e.g. CBAM's own ``spatial_attention``) are not returned
    separately.
    """
    found = []
    for name, module in model.named_modules():
        if type(module).__name__ not in _EXTRACTORS:
            continue
        if any(_matches(name, module, p) for p in patterns):
            found.append((name, module))
    return found


@torch.no_grad()
def module_attention_maps(name: str, module: nn.Module, args: tuple, kwargs: dict,
                          points: Sequence[QueryPoint] = ((0.5, 0.5), )
                          ) -> List[AttentionMap]:
    """The maps of one module for the input it saw (``args`` / ``kwargs`` of its forward).

    Args:
        name (str): The module's name, for the labels.
        module (nn.Module): A module whose class has an extractor (see
            :func:`supported_types`).
        args (tuple), kwargs (dict): The inputs of its forward call.
        points (sequence[tuple[float, float]]): Query points, (x, y) fractions of the
            module's input grid. Default: the centre.
    """
    extractor = _EXTRACTORS.get(type(module).__name__)
    if extractor is None:
        raise KeyError(f'no attention-map extractor for {type(module).__name__}; supported: '
                       f'{", ".join(supported_types())}')
    was_training = module.training
    module.eval()  # batch norms inside the branches use their running statistics
    try:
        results = extractor(module, args, kwargs, points)
    finally:
        module.train(was_training)
    return [AttentionMap(name, type(module).__name__, label, t.detach().float().cpu(), p)
            for label, t, p in results]


# ---------------------------------------------------------------------------- recording
class AttentionRecorder:
    """Capture the inputs of chosen modules (and of the model's data preprocessor) during one
    forward, with forward hooks that are removed afterwards.

    Use as a context manager around a forward (``model.test_step(data)``), then call
    :meth:`maps`. Only the first call of each module is kept (slide inference and test-time
    augmentation call a module several times; ``calls`` counts them)::

        with AttentionRecorder(model, ['CBAM', 'PositionAttention']) as rec:
            model.test_step(data)
        maps = rec.maps([(0.5, 0.5)])          # list[AttentionMap]
        images = rec.images()                  # RGB uint8 images the model saw

    Args:
        model (nn.Module): The model (unwrapped or wrapped; ``.module`` is used if present).
        patterns (sequence[str]): See :func:`find_modules`.
    """

    def __init__(self, model: nn.Module, patterns: Sequence[str] = DEFAULT_MODULES):
        self.model = getattr(model, 'module', model)
        self.modules = find_modules(self.model, patterns)
        self.inputs: Dict[str, Tuple[tuple, dict]] = {}
        self.calls: Dict[str, int] = {}
        self.raw_images: Optional[List[torch.Tensor]] = None
        self.input_shape: Optional[Tuple[int, int]] = None
        self.channel_conversion = False
        self._handles: List[Any] = []

    def _capture(self, name: str):

        def hook(module, args, kwargs, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name not in self.inputs:
                self.inputs[name] = (tuple(a.detach() if torch.is_tensor(a) else a
                                           for a in args),
                                     {k: v.detach() if torch.is_tensor(v) else v
                                      for k, v in kwargs.items()})

        return hook

    def _capture_preprocessor(self, module, args, kwargs, output):
        data = args[0] if args else kwargs.get('data')
        if self.raw_images is None and isinstance(data, dict):
            inputs = data.get('inputs')
            if isinstance(inputs, torch.Tensor):
                inputs = list(inputs)
            if isinstance(inputs, (list, tuple)) and inputs and torch.is_tensor(inputs[0]):
                self.raw_images = [t.detach().cpu() for t in inputs]
        if self.input_shape is None and isinstance(output, dict) and torch.is_tensor(
                output.get('inputs')):
            self.input_shape = tuple(output['inputs'].shape[-2:])

    def __enter__(self) -> 'AttentionRecorder':
        for name, module in self.modules:
            self._handles.append(
                module.register_forward_hook(self._capture(name), with_kwargs=True))
        pre = getattr(self.model, 'data_preprocessor', None)
        if isinstance(pre, nn.Module):
            self.channel_conversion = bool(getattr(pre, '_channel_conversion', False)
                                           or getattr(pre, 'channel_conversion', False))
            self._handles.append(
                pre.register_forward_hook(self._capture_preprocessor, with_kwargs=True))
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __exit__(self, *exc) -> None:
        self.remove()

    def images(self) -> List[Any]:
        """The images the model saw (after resizing, before normalisation and padding) as
        RGB uint8 ``(H, W, 3)`` numpy arrays; empty when the model has no data
        preprocessor or was called on tensors directly."""
        import numpy as np

        out = []
        for t in self.raw_images or []:
            img = t.float().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            if img.shape[2] == 3 and self.channel_conversion:
                img = img[..., ::-1]  # the loader's BGR -> RGB
            out.append(np.ascontiguousarray(img))
        return out

    def maps(self, points: Sequence[QueryPoint] = ((0.5, 0.5), ),
             index: Optional[int] = None) -> List[AttentionMap]:
        """The maps of every captured module, in model order.

        Args:
            points (sequence[tuple[float, float]]): (x, y) fractions of each module's
                input grid.
            index (int, optional): Only this image of the batch (the maps then have a batch
                dim of 1). Default: the whole batch.
        """
        out: List[AttentionMap] = []
        for name, module in self.modules:
            if name in self.inputs:
                args, kwargs = self.inputs[name]
                if index is not None:
                    args = tuple(_batch_item(a, index) for a in args)
                    kwargs = {k: _batch_item(v, index) for k, v in kwargs.items()}
                out.extend(module_attention_maps(name, module, args, kwargs, points))
        return out


def _batch_item(value: Any, index: int) -> Any:
    return value[index:index + 1] if torch.is_tensor(value) and value.dim() >= 1 else value
