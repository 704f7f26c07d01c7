"""FLOP counting that sees fused attention, for mmengine's :mod:`mmengine.analysis`.

mmengine 0.10.7 counts FLOPs by tracing the model with TorchScript and summing per-operator
handles (``FlopAnalyzer``, adopted from fvcore). It has handles for convolutions and matrix
products but none for ``aten::scaled_dot_product_attention``: a module that calls the fused
kernel is reported as costing **0** FLOPs for its attention (with an "unsupported operator"
warning), while the same computation written as ``softmax(q kᵀ) v`` with two matmuls is
counted. attnplug's ``MultiHeadSelfAttention2d``, ``NonLocal2d`` and ``PositionAttention`` take
the fused path whenever it is exact, so their attention would vanish from every FLOP table.

Convention (mmengine's, followed throughout):

* one fused multiply-add counts as **one** FLOP (``FlopAnalyzer``'s docstring: "We count one
  fused multiply-add as one flop"). Multiply by 2 for the "2·MAC" FLOPs of some papers;
* a matrix product ``(.., n, k) @ (.., k, m)`` costs ``n·k·m``; so scaled dot-product
  attention with batch/head dims ``B·H``, ``Nq`` queries, ``Nk`` keys, key size ``dk`` and
  value size ``dv`` costs ``B·H·Nq·Nk·(dk + dv)`` for its two products, exactly what
  mmengine's ``matmul``/``bmm`` handles give for ``q @ kᵀ`` and ``p @ v`` (in "2·FLOPs" this
  is the ``2·B·H·Nq·Nk·(dk+dv)`` of the attention literature);
* softmax is not counted by mmengine (it warns "unsupported operator aten::softmax"). Here it
  costs ``softmax_flops`` per element (default 1: the exponential; the max, subtraction, sum
  and division are not counted, as mmengine counts no element-wise add or multiply), both for
  an explicit ``aten::softmax`` and inside SDPA, so the fused and unfused forms agree;
* element-wise work mmengine does not count stays uncounted on both sides: the ``1/sqrt(dk)``
  scaling, an additive ``attn_mask``, dropout. A causal mask is counted as the full
  ``Nq × Nk`` (an upper bound; the kernels skip about half).

Usage::

    from attnplug.analysis.flops import get_model_complexity_info_with_attention
    info = get_model_complexity_info_with_attention(model, inputs=(x, ))
    info['flops']            # int, with attention
    info['by_operator']      # Counter: conv, matmul, scaled_dot_product_attention, softmax

    # or on an analyzer of your own
    FlopAnalyzer(model, inputs).set_op_handle(**attention_flop_handles())

    # or make every FlopAnalyzer built inside the block count attention
    # (e.g. mmengine.analysis.get_model_complexity_info, the stock get_flops.py tools)
    with attention_handles_as_default():
        ...
"""
import contextlib
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer, parameter_count
from mmengine.analysis import complexity_analysis as _ca
from mmengine.analysis.jit_handles import Handle, generic_activation_jit, get_shape
from mmengine.analysis.print_helper import (_format_size, complexity_stats_str,
                                            complexity_stats_table)

__all__ = [
    'SDPA_OPS', 'sdpa_flop_count', 'sdpa_flop_handle', 'softmax_flop_handle',
    'attention_flop_handles', 'attention_activation_handles', 'attention_handles_as_default',
    'get_model_complexity_info_with_attention', 'TensorModeForward', 'default_input_shape',
    'config_complexity', 'model_complexity'
]

#: The traced names of scaled dot-product attention: the public composite op and the
#: kernels it may dispatch to when traced below the composite (their first three inputs are
#: query, key, value as well).
SDPA_OPS = (
    'aten::scaled_dot_product_attention',
    'aten::_scaled_dot_product_flash_attention',
    'aten::_scaled_dot_product_flash_attention_for_cpu',
    'aten::_scaled_dot_product_efficient_attention',
    'aten::_scaled_dot_product_cudnn_attention',
)

_SOFTMAX_OPS = ('aten::softmax', 'aten::_softmax')


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _broadcast(*shapes: List[int]) -> List[int]:
    return list(torch.broadcast_shapes(*(tuple(s) for s in shapes)))


def sdpa_flop_count(q_shape, k_shape, v_shape, softmax_flops: float = 1) -> Tuple[int, int]:
    """Multiply-adds of the two products and FLOPs of the softmax of one SDPA call.

    Args:
        q_shape (sequence[int]): (..., Nq, dk).
        k_shape (sequence[int]): (..., Nk, dk).
        v_shape (sequence[int]): (..., Nk, dv).
        softmax_flops (float): FLOPs per attention weight for the softmax. Default: 1.

    Returns:
        tuple[int, int]: ``B·H·Nq·Nk·(dk + dv)`` and ``softmax_flops·B·H·Nq·Nk``, where
        ``B·H`` is the product of the broadcast leading dims. With ``enable_gqa`` the key
        and value have fewer heads than the query; every query head still does the work, so
        the query's head count is used.
    """
    *lead_q, nq, dk = q_shape
    *lead_k, nk, dk2 = k_shape
    *lead_v, nk2, dv = v_shape
    if dk != dk2 or nk != nk2:
        raise ValueError(f'sdpa_flop_count: shapes do not match: q {list(q_shape)}, '
                         f'k {list(k_shape)}, v {list(v_shape)}')
    try:
        lead = _broadcast(lead_q, lead_k, lead_v)
    except RuntimeError:  # grouped-query attention: fewer key/value heads than query heads
        lead = list(lead_q)
    scores = _prod(lead) * nq * nk
    return scores * (dk + dv), int(round(softmax_flops * scores))


def sdpa_flop_handle(softmax_flops: float = 1) -> Handle:
    """A ``FlopAnalyzer`` handle for ``aten::scaled_dot_product_attention`` (and the
    kernels in :data:`SDPA_OPS`). Returns a Counter, so ``by_operator()`` lists the
    products under ``'scaled_dot_product_attention'`` and the softmax under ``'softmax'``,
    as for the unfused form."""

    def handle(inputs: List[Any], outputs: List[Any]) -> Counter:
        q, k, v = (get_shape(t) for t in inputs[:3])
        if q is None or k is None or v is None:
            raise ValueError('attnplug sdpa_flop_handle: the trace has no complete shapes '
                             'for the query, key and value')
        products, softmax = sdpa_flop_count(q, k, v, softmax_flops)
        counts = Counter({'scaled_dot_product_attention': products})
        if softmax:
            counts['softmax'] = softmax
        return counts

    return handle


def softmax_flop_handle(softmax_flops: float = 1) -> Handle:
    """A ``FlopAnalyzer`` handle for ``aten::softmax``: ``softmax_flops`` per element."""

    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        shape = get_shape(inputs[0])
        return int(round(softmax_flops * _prod(shape))) if shape is not None else 0

    return handle


def attention_flop_handles(softmax_flops: float = 1) -> Dict[str, Optional[Handle]]:
    """Handles for ``FlopAnalyzer.set_op_handle(**handles)``: every SDPA op, and softmax.

    Args:
        softmax_flops (float): FLOPs per softmax element, inside SDPA and for an explicit
            ``aten::softmax``. 0 leaves softmax uncounted everywhere (it is then marked as
            ignored, so mmengine stops warning about it). Default: 1.
    """
    handles: Dict[str, Optional[Handle]] = {op: sdpa_flop_handle(softmax_flops)
                                            for op in SDPA_OPS}
    for op in _SOFTMAX_OPS:
        handles[op] = softmax_flop_handle(softmax_flops) if softmax_flops else None
    return handles


def attention_activation_handles() -> Dict[str, Handle]:
    """Handles for ``ActivationAnalyzer``: an SDPA call produces its output only (the fused
    kernel never materialises the ``Nq × Nk`` weights, unlike the two matmuls)."""
    return {op: generic_activation_jit() for op in SDPA_OPS}


@contextlib.contextmanager
def attention_handles_as_default(softmax_flops: float = 1) -> Iterator[None]:
    """Make every ``FlopAnalyzer`` / ``ActivationAnalyzer`` built inside the block count
    attention, including those that library code builds (mmengine's
    ``get_model_complexity_info``, the stock ``get_flops.py`` tools).

    It adds the handles to mmengine's module-level default tables and restores them on
    exit. Not thread-safe: other threads building analyzers meanwhile see the handles too.
    """
    flop_table = _ca._DEFAULT_SUPPORTED_FLOP_OPS
    act_table = _ca._DEFAULT_SUPPORTED_ACT_OPS
    saved_flop, saved_act = dict(flop_table), dict(act_table)
    # None (= ignore) cannot live in the default table: set_op_handle(**defaults) would be
    # fine with it, but other readers of the table expect callables.
    for op, h in attention_flop_handles(softmax_flops).items():
        if h is not None:
            flop_table[op] = h
    act_table.update(attention_activation_handles())
    try:
        yield
    finally:
        flop_table.clear()
        flop_table.update(saved_flop)
        act_table.clear()
        act_table.update(saved_act)


def get_model_complexity_info_with_attention(
        model: nn.Module,
        input_shape: Union[Tuple[int, ...], Tuple[Tuple[int, ...], ...], None] = None,
        inputs: Union[torch.Tensor, Tuple[Any, ...], None] = None,
        show_table: bool = False,
        show_arch: bool = False,
        softmax_flops: float = 1) -> Dict[str, Any]:
    """mmengine's ``get_model_complexity_info`` with attention counted.

    Same arguments and result keys as :func:`mmengine.analysis.get_model_complexity_info`
    (``flops``, ``flops_str``, ``activations``, ``activations_str``, ``params``,
    ``params_str``, ``out_table``, ``out_arch``), plus ``by_operator`` (a Counter of FLOPs
    per operator) and ``unsupported_ops`` (a Counter of operators that were not counted).

    The model is traced under ``torch.no_grad()`` (inference).

    Args:
        model (nn.Module): The model; called as ``model(*inputs)``.
        input_shape (tuple, optional): Shape(s) without the batch dim for random inputs.
        inputs (Tensor | tuple, optional): The inputs (exclusive with ``input_shape``).
        show_table (bool): Fill ``out_table``. Default: False.
        show_arch (bool): Fill ``out_arch``. Default: False.
        softmax_flops (float): FLOPs per softmax element (see the module docstring).
            Default: 1.
    """
    if (input_shape is None) == (inputs is None):
        raise ValueError('get_model_complexity_info_with_attention: give exactly one of '
                         '"input_shape" and "inputs"')
    if inputs is None:
        device = next(model.parameters()).device
        shapes = input_shape if isinstance(input_shape[0], (tuple, list)) else (input_shape, )
        inputs = tuple(torch.randn(1, *s, device=device) for s in shapes)
    flop_handler = FlopAnalyzer(model, inputs).set_op_handle(
        **attention_flop_handles(softmax_flops))
    act_handler = ActivationAnalyzer(model, inputs).set_op_handle(
        **attention_activation_handles())
    flop_handler.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    act_handler.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # The trace runs without autograd, as inference does: attnplug's attention picks its
    # backend by whether a backward will follow (on CPU the fused kernel only without one).
    with torch.no_grad():
        flops = flop_handler.total()
        activations = act_handler.total()
        out_table = out_arch = ''
        if show_table:
            out_table = '\n' + complexity_stats_table(
                flops=flop_handler, activations=act_handler, show_param_shapes=True)
        if show_arch:
            out_arch = '\n' + complexity_stats_str(flops=flop_handler,
                                                    activations=act_handler)
    params = parameter_count(model)['']
    return {
        'flops': flops,
        'flops_str': _format_size(flops),
        'activations': activations,
        'activations_str': _format_size(activations),
        'params': params,
        'params_str': _format_size(params),
        'out_table': out_table,
        'out_arch': out_arch,
        'by_operator': flop_handler.by_operator(),
        'unsupported_ops': flop_handler.unsupported_ops(),
    }


class TensorModeForward(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` as a one-argument module, so a FLOP
    counter that calls ``module(*inputs)`` can trace an mmdet detector, whose tensor mode
    needs the image metas (mmdet's own ``get_flops.py`` needs them too). The wrapped model is
    left unchanged (no patched ``forward``); the per-module table names its layers
    ``model.<name>``.

    Args:
        model (nn.Module): An OpenMMLab ``BaseModel``.
        data_samples (list): The data samples the data preprocessor returned.
    """

    def __init__(self, model: nn.Module, data_samples: List[Any]):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.data_samples, mode='tensor')


def default_input_shape(cfg, scope: str) -> Tuple[int, int]:
    """The input a config's model sees at test time, as ``(H, W)``.

    mmseg: the config's ``crop_size`` (else 512×1024). mmdet: the test pipeline's fixed
    ``Pad`` size if it has one (RTMDet and YOLOX pad to a square: their necks need sides that
    divide by 32, which the data preprocessor does not pad to), else its ``Resize`` scale
    (mmdet writes it as ``(W, H)``), else 800×1333.
    """
    crop = cfg.get('crop_size')
    if scope == 'mmseg':
        return tuple(crop) if crop else (512, 1024)
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('pipeline') or \
        cfg.get('test_pipeline') or []
    sizes = {}
    for step in pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        if kind == 'Pad' and step.get('size'):
            sizes['pad'] = step['size']
        elif kind == 'Resize' and isinstance(step.get('scale'), (tuple, list)):
            sizes['resize'] = step['scale']
    size = sizes.get('pad') or sizes.get('resize')
    if size is None:
        return (800, 1333)
    if isinstance(size, int):
        return (size, size)
    return (int(size[1]), int(size[0]))


def config_complexity(config: str, shape: Optional[Sequence[int]] = None,
                      cfg_options: Optional[Dict[str, Any]] = None, softmax_flops: float = 1.,
                      table: bool = False) -> Dict[str, Any]:
    """Parameters and FLOPs of the model an mmseg or mmdet config builds, attention counted.

    The model is built offline (:mod:`attnplug.analysis.build`), in eval mode, without mmseg's
    auxiliary head, and traced on one random image after its data preprocessor (padding
    included), like mmseg's and mmdet's ``tools/analysis_tools/get_flops.py``.

    Args:
        config (str): Config path.
        shape (sequence, optional): ``(H, W)`` or ``(S, )`` for a square. Default:
            :func:`default_input_shape`.
        cfg_options (dict, optional): Merged into the config.
        softmax_flops (float): FLOPs per softmax element. Default: 1.
        table (bool): Also return mmengine's per-module table.

    Returns:
        dict: JSON-ready: ``params``, ``flops`` (attention counted), ``flops_stock_mmengine``
        (stock mmengine handles, where fused attention counts 0), ``input_shape``,
        ``flops_by_operator``, ``uncounted_ops``, ``convention`` and ``table``.
    """
    from .build import build_model, config_scope, load_config
    cfg = load_config(config, cfg_options)
    scope = config_scope(cfg)
    if shape is None:
        shape = default_input_shape(cfg, scope)
    elif len(shape) == 1:
        shape = (shape[0], shape[0])
    model = build_model(cfg, drop_auxiliary=True)
    return dict(config=config, **model_complexity(model, scope, shape, softmax_flops, table))


def model_complexity(model: nn.Module, scope: str, shape: Sequence[int],
                     softmax_flops: float = 1., table: bool = False) -> Dict[str, Any]:
    """:func:`config_complexity` of a model already built (``build_model``, in eval mode), on
    one random image of ``shape = (H, W)`` after its data preprocessor: what a caller that also
    times the model uses, so that it builds the model once.

    Returns:
        dict: as :func:`config_complexity`, without ``config``.
    """
    from mmengine.analysis import get_model_complexity_info

    from .build import dummy_inputs
    with torch.no_grad():
        inputs, samples = dummy_inputs(model, scope, shape)
    traced = TensorModeForward(model, samples) if scope == 'mmdet' else model
    info = get_model_complexity_info_with_attention(traced, inputs=(inputs, ),
                                                    show_table=table, show_arch=False,
                                                    softmax_flops=softmax_flops)
    with torch.no_grad():
        stock = get_model_complexity_info(traced, inputs=(inputs, ), show_table=False,
                                          show_arch=False)
    return {
        'scope': scope,
        'input_shape': list(inputs.shape[-2:]),
        'params': info['params'],
        'params_str': info['params_str'],
        'flops': info['flops'],
        'flops_str': info['flops_str'],
        'flops_stock_mmengine': stock['flops'],
        'flops_stock_mmengine_str': stock['flops_str'],
        'flops_by_operator': dict(info['by_operator']),
        'uncounted_ops': dict(info['unsupported_ops']),
        'convention': 'one multiply-add = one FLOP (mmengine); softmax '
                      f'{softmax_flops:g} FLOP/element',
        'table': info['out_table'],
    }
