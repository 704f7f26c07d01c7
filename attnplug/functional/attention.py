"""Exact, memory-bounded attention over flattened 2D feature maps.

The self-attention of "Attention Is All You Need" (Vaswani et al., arXiv 1706.03762),
``softmax(q kᵀ · scale) v``, as used on feature maps by Non-local Neural Networks
(arXiv 1711.07971), DANet's position attention (arXiv 1809.02983) and BoTNet
(arXiv 2101.11605). On a 128×256 map (N = 32768) one N×N fp32 score matrix is 4 GiB
per image and head, so this function never builds it when N is large:

* ``'sdpa'``: :func:`torch.nn.functional.scaled_dot_product_attention`. On the CPU
  build of torch 2.13 its fused (flash) kernel is O(N) in memory only when the query/key
  head size equals the value head size; otherwise it silently takes the N×N math path.
* ``'chunked'``: exact attention over blocks of query rows. A block's fp32 scores
  ``(B, heads, rows, Nk)`` stay within ``memory_budget`` bytes (the peak is about three
  such blocks: scores, their softmax and the exp temporary). The softmax runs in fp32 under
  autocast. With autograd, each block is recomputed in the backward pass
  (:func:`torch.utils.checkpoint.checkpoint`), so the backward keeps no N×N either.
* ``'linear'``: the dot-product mode without a bias is associative,
  ``(q kᵀ / Nk) v = q (kᵀ v) / Nk``, which costs O(N·dk·dv) and no score matrix at all.
* ``'naive'``: the plain formula, for reference and small inputs.

Modes: ``'softmax'`` (embedded Gaussian / scaled dot-product attention; ``scale=None``
means ``dk ** -0.5``, pass ``scale=1.0`` for the unscaled energies of DANet's PAM or
mmcv's ``NonLocal2d(use_scale=False)``) and ``'dot_product'`` (mmcv ``NonLocal2d``
``mode='dot_product'``, Eq. 4 of arXiv 1711.07971: no softmax, divide by the number of keys;
``scale=None`` means 1 here).

Measured on 2026-11-21, 2-core CPU (shared), torch 2.13.0 CPU build, fp32, B=1, one head,
Nq = Nk = N, dk = 64, forward only, no grad; seconds (peak RSS growth in MiB). The
chunked path uses the default 256 MiB budget (N=4096: one block, i.e. the naive formula;
N=16384: 4096-row blocks); "sdpa-split" runs SDPA with v split into dv/dk heads sharing q, k.

========  ====  ==============  ==============  ==============  ==============
N         dv    naive           sdpa            chunked         sdpa-split
========  ====  ==============  ==============  ==============  ==============
4096      64    MEASURE         MEASURE         MEASURE         --
4096      512   MEASURE         MEASURE         MEASURE         MEASURE
16384     64    MEASURE         MEASURE         MEASURE         --
16384     512   MEASURE         MEASURE         MEASURE         MEASURE
========  ====  ==============  ==============  ==============  ==============

Dispatch rule of ``backend='auto'`` drawn from these numbers: DISPATCH
"""
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

__all__ = ['attention', 'attention_probs', 'select_backend', 'chunk_rows',
           'DEFAULT_MEMORY_BUDGET']

#: Bytes one fp32 block of scores may take in the chunked path.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

#: ``bias(start, stop)`` -> additive logits for query rows ``[start, stop)``, broadcastable
#: to ``(B, heads, stop - start, Nk)`` (or ``(B, stop - start, Nk)`` for 3D queries).
BiasFn = Callable[[int, int], torch.Tensor]

_MODES = ('softmax', 'dot_product')
_BACKENDS = ('auto', 'sdpa', 'chunked', 'linear', 'naive')


def _tracing() -> bool:
    """True while torch.export / dynamo / TorchScript trace the graph (export, compile)."""
    is_exporting = getattr(torch.compiler, 'is_exporting', None)
    return bool(torch.compiler.is_compiling() or (is_exporting is not None and is_exporting())
                or torch.jit.is_tracing() or torch.jit.is_scripting())


def _autocast_off(t: torch.Tensor):
    """A context that disables autocast on ``t``'s device, or None when it is not active."""
    dev = t.device.type
    if dev in ('cpu', 'cuda') and torch.is_autocast_enabled(dev):
        return torch.autocast(device_type=dev, enabled=False)
    return None


def involves_fp16(*tensors: torch.Tensor) -> bool:
    """True when a matmul of ``tensors`` would run in fp16: an fp16 operand, or fp16
    autocast active on their device."""
    if any(t.dtype == torch.float16 for t in tensors):
        return True
    dev = tensors[0].device.type
    return (dev in ('cpu', 'cuda') and torch.is_autocast_enabled(dev)
            and torch.get_autocast_dtype(dev) == torch.float16)


def matmul_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` in fp32 with autocast switched off for this product only."""
    ctx = _autocast_off(a)
    if ctx is None:
        return torch.matmul(a.float(), b.float())
    with ctx:
        return torch.matmul(a.float(), b.float())


def _matmul_wide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` returned in fp32. fp16 products are formed in fp32: unscaled energies
    (DANet, NonLocal ``use_scale=False``) and sums over N keys exceed fp16's 65504. bf16
    has fp32's range, so it keeps its fast matmul and only the result is widened."""
    if a.dtype != b.dtype or involves_fp16(a, b):
        return matmul_fp32(a, b)
    return torch.matmul(a, b).float()


def _as_heads(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() not in (3, 4):
        raise ValueError(f'attention: {name} must be (B, N, d) or (B, heads, N, d), '
                         f'got shape {tuple(t.shape)}')
    return t if t.dim() == 4 else t.unsqueeze(1)


def chunk_rows(batch_heads: int, num_keys: int,
               memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """Query rows per block so that ``batch_heads × rows × num_keys`` fp32 scores fit
    ``memory_budget`` bytes (at least one row)."""
    return max(1, int(memory_budget) // (4 * max(1, batch_heads) * max(1, num_keys)))


def select_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mode: str = 'softmax',
                   bias=None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> str:
    """The backend ``attention(..., backend='auto')`` takes for these operands (see the
    module docstring for the measurements behind it)."""
    q4, k4, v4 = (_as_heads(t, n) for t, n in ((q, 'q'), (k, 'k'), (v, 'v')))
    if mode == 'dot_product':
        return 'linear' if bias is None else 'chunked'
    fits = (q4.shape[0] * q4.shape[1] * q4.shape[2] * k4.shape[2] * 4) <= memory_budget
    if callable(bias):
        return 'chunked'
    if k4.shape[-1] == v4.shape[-1] and (bias is None or fits):
        return 'sdpa'
    return 'chunked'


def attention(q: torch.Tensor,
              k: torch.Tensor,
              v: torch.Tensor,
              scale: Optional[float] = None,
              mode: str = 'softmax',
              bias: Union[None, torch.Tensor, BiasFn] = None,
              backend: str = 'auto',
              block_size: Optional[int] = None,
              memory_budget: int = DEFAULT_MEMORY_BUDGET,
              checkpoint_blocks: bool = True) -> torch.Tensor:
    """Exact attention ``f(q kᵀ · scale + bias) v`` without an N×N matrix for large N.

    Args:
        q (Tensor): Queries, (B, Nq, dk) or (B, heads, Nq, dk).
        k (Tensor): Keys, (B, Nk, dk), shared by all heads, or (B, heads, Nk, dk).
        v (Tensor): Values, (B, Nk, dv) or (B, heads, Nk, dv).
        scale (float, optional): Factor on ``q kᵀ``. Default: ``dk ** -0.5`` in softmax
            mode, 1 in dot-product mode. Pass 1.0 for unscaled energies.
        mode (str): ``'softmax'``: ``softmax(q kᵀ · scale + bias) v``; ``'dot_product'``:
            ``((q kᵀ · scale + bias) / Nk) v``. Default: 'softmax'.
        bias (Tensor | callable, optional): Additive logits. A tensor broadcastable to
            (B, [heads,] Nq, Nk), or a callable ``bias(start, stop)`` returning those of
            query rows ``[start, stop)`` (so relative-position logits are built per block,
            never for all N×N pairs). A callable forces the chunked path. Default: None.
        backend (str): 'auto', 'sdpa', 'chunked', 'linear' (dot-product mode without bias
            only) or 'naive'. Default: 'auto' (see :func:`select_backend`).
        block_size (int, optional): Query rows per block of the chunked path.
            Default: derived from ``memory_budget``.
        memory_budget (int): Bytes an fp32 score block may take. Default: 256 MiB.
        checkpoint_blocks (bool): Recompute each block in the backward pass so that the
            backward keeps no N×N either. Default: True.

    Returns:
        Tensor: (B, Nq, dv) or (B, heads, Nq, dv), like ``q``.
    """
    if mode not in _MODES:
        raise ValueError(f'attention: mode must be one of {_MODES}, got {mode!r}')
    if backend not in _BACKENDS:
        raise ValueError(f'attention: backend must be one of {_BACKENDS}, got {backend!r}')
    squeeze = q.dim() == 3
    q4, k4, v4 = (_as_heads(t, n) for t, n in ((q, 'q'), (k, 'k'), (v, 'v')))
    if q4.shape[-1] != k4.shape[-1] or k4.shape[-2] != v4.shape[-2]:
        raise ValueError(f'attention: shapes do not match: q {tuple(q.shape)}, '
                         f'k {tuple(k.shape)}, v {tuple(v.shape)}')
    if scale is None:
        scale = q4.shape[-1]**-0.5 if mode == 'softmax' else 1.0
    if torch.is_tensor(bias) and bias.dim() == 3 and squeeze:
        bias = bias.unsqueeze(1)
    if backend == 'auto':
        backend = select_backend(q4, k4, v4, mode, bias, memory_budget)

    if backend == 'sdpa':
        if mode != 'softmax' or callable(bias):
            raise ValueError("attention: backend='sdpa' needs mode='softmax' and a tensor bias")
        out = _sdpa(q4, k4, v4, scale, bias)
    elif backend == 'linear':
        if mode != 'dot_product' or bias is not None:
            raise ValueError("attention: backend='linear' needs mode='dot_product' and no bias")
        out = _linear(q4, k4, v4, scale)
    elif backend == 'naive':
        full = bias(0, q4.shape[2]) if callable(bias) else bias
        out = _block(q4, k4, v4, scale, mode, full)
    else:
        out = _chunked(q4, k4, v4, scale, mode, bias, block_size, memory_budget,
                       checkpoint_blocks)
    return out.squeeze(1) if squeeze else out


def _expand_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    return t.expand(t.shape[0], heads, *t.shape[2:]) if t.shape[1] != heads else t


def _sdpa(q, k, v, scale, bias):
    heads = max(q.shape[1], k.shape[1], v.shape[1])
    # The fused CPU kernel needs unit stride in the head dimension; a (B, C, N) -> (B, N, C)
    # transposed view silently sends SDPA to its N×N math path. The copy is O(N·d).
    q, k, v = (_expand_heads(t if t.stride(-1) == 1 else t.contiguous(), heads)
               for t in (q, k, v))
    if bias is not None:
        # SDPA wants a float mask of the query's dtype (the compute dtype under autocast).
        dtype = q.dtype
        if q.device.type in ('cpu', 'cuda') and torch.is_autocast_enabled(q.device.type):
            dtype = torch.get_autocast_dtype(q.device.type)
        bias = bias.to(dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)


def _linear(q, k, v, scale):
    # Eq. 4 of arXiv 1711.07971 with f = θᵀφ and C(x) = N, reassociated: q (kᵀ v) / Nk.
    kv = _matmul_wide(k.transpose(-2, -1), v) * (scale / k.shape[-2])
    return torch.matmul(q, kv.to(q.dtype))


def _block(qb, k, v, scale, mode, bias_b):
    """One block of query rows: scores in fp32, softmax in fp32, then ``@ v``."""
    if scale != 1.0:
        qb = qb * scale  # (rows × dk) multiplications instead of (rows × Nk)
    s = _matmul_wide(qb, k.transpose(-2, -1))
    if bias_b is not None:
        s = s + bias_b.float()
    p = s.softmax(dim=-1) if mode == 'softmax' else s / k.shape[-2]
    return torch.matmul(p.to(v.dtype), v)


def _block_fused(qb, k, v, scale, bias_b):
    """One block of query rows through SDPA with the block's logits as an additive mask:
    for equal key/value head sizes its fused kernel is faster than ``_block`` (see the
    table above) and keeps its softmax statistics in fp32."""
    return _sdpa(qb, k, v, scale, bias_b)


def _chunked(q, k, v, scale, mode, bias, block_size, memory_budget, checkpoint_blocks,
             fused=None):
    nq = q.shape[2]
    heads = max(q.shape[1], k.shape[1])
    rows = block_size or chunk_rows(q.shape[0] * heads, k.shape[2], memory_budget)
    rows = max(1, min(int(rows), nq))
    recompute = (checkpoint_blocks and rows < nq and torch.is_grad_enabled()
                 and any(t.requires_grad for t in (q, k, v)) and not _tracing())
    if fused is None:
        fused = mode == 'softmax' and k.shape[-1] == v.shape[-1]

    def run(qb, start, stop):
        if bias is None:
            bias_b = None
        elif callable(bias):
            bias_b = bias(start, stop)
        elif bias.shape[-2] == 1:
            bias_b = bias
        else:
            bias_b = bias[..., start:stop, :]
        if fused:
            return _block_fused(qb, k, v, scale, bias_b)
        return _block(qb, k, v, scale, mode, bias_b)

    outs = []
    for start in range(0, nq, rows):
        stop = min(start + rows, nq)
        qb = q[:, :, start:stop]
        if recompute:
            outs.append(checkpoint(run, qb, start, stop, use_reentrant=False))
        else:
            outs.append(run(qb, start, stop))
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


def attention_probs(q: torch.Tensor, k: torch.Tensor, scale: Optional[float] = None,
                    mode: str = 'softmax', bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The attention weights of a few query rows, e.g. to visualise where one pixel looks.

    Builds ``(..., Nq, Nk)``: meant for a handful of queries, not for all N.

    Args:
        q (Tensor): (B, [heads,] Nq, dk) queries (a selection of rows).
        k (Tensor): (B, [heads,] Nk, dk) keys.
        scale, mode, bias: As in :func:`attention`.

    Returns:
        Tensor: (B, [heads,] Nq, Nk) fp32 weights (rows sum to 1 in softmax mode).
    """
    if mode not in _MODES:
        raise ValueError(f'attention_probs: mode must be one of {_MODES}, got {mode!r}')
    if scale is None:
        scale = q.shape[-1]**-0.5 if mode == 'softmax' else 1.0
    if q.dim() == 4 and k.dim() == 3:
        k = k.unsqueeze(1)
    s = _matmul_wide(q, k.transpose(-2, -1)) * scale
    if bias is not None:
        s = s + bias.float()
    return s.softmax(dim=-1) if mode == 'softmax' else s / k.shape[-2]
