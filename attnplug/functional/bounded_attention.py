"""Exact, memory-bounded attention over flattened 2D feature maps.

The self-attention of "Attention Is All You Need" (Vaswani et al., arXiv 1706.03762),
``softmax(q kᵀ · scale) v``, as used on feature maps by Non-local Neural Networks
(arXiv 1711.07971), DANet's position attention (arXiv 1809.02983) and BoTNet
(arXiv 2101.11605). On a 128×256 map (N = 32768) one N×N fp32 score matrix is 4 GiB
per image and head, so this function never builds it when N is large:

* ``'blocked'``: :func:`attnplug.functional.flash_attention.blocked_attention`, the
  FlashAttention-2 formulation (Dao 2023, arXiv 2307.08691, Alg. 1-2) as a
  ``torch.autograd.Function`` in PyTorch ops: query blocks of at most ``memory_budget`` (and
  :data:`BLOCKED_BLOCK_BYTES`) fp32 scores, the softmax in fp32, and a forward that saves only
  q, k, v, the output and the row log-sum-exp; the backward recomputes each block's
  probabilities from it and accumulates dQ, dK, dV (and the bias gradient). It serves the
  softmax and dot-product modes, tensor biases and :class:`RelativeBias2d` logits.
* ``'sdpa'``: :func:`torch.nn.functional.scaled_dot_product_attention`. On the CPU
  build of torch 2.13 its fused (flash) kernel is O(N) in memory only when the query/key
  head size equals the value head size (otherwise it silently takes the N×N math path) and
  only for unit stride in the head dimension (so transposed views are made contiguous).
* ``'chunked'``: exact attention over blocks of query rows. A block's fp32 scores
  ``(B, heads, rows, Nk)`` stay within ``memory_budget`` bytes; the forward peak is about two
  such blocks (scores and their softmax). The softmax runs in fp32 under autocast, and fp16
  scores are formed in fp32 (unscaled energies overflow 65504). With autograd, each block is
  recomputed in the backward pass (:func:`torch.utils.checkpoint.checkpoint`), so the
  backward keeps no N×N either.
* ``'chunked_sdpa'``: the same blocks, each through SDPA with the block's logits (e.g.
  relative-position logits from a callable ``bias``) as an additive mask.
* ``'linear'``: the dot-product mode without a bias is associative,
  ``(q kᵀ / Nk) v = q (kᵀ v) / Nk``, which costs O(N·dk·dv) and no score matrix at all.
* ``'naive'``: the plain formula, for reference.

Modes: ``'softmax'`` (embedded Gaussian / scaled dot-product attention; ``scale=None``
means ``dk ** -0.5``, pass ``scale=1.0`` for the unscaled energies of DANet's PAM or
mmcv's ``NonLocal2d(use_scale=False)``) and ``'dot_product'`` (mmcv ``NonLocal2d``
``mode='dot_product'``, Eq. 4 of arXiv 1711.07971: no softmax, divide by the number of keys;
``scale=None`` means 1 here).

Measurements (``tools/benchmark_attention.py``), 2026-11-21, 2-core CPU shared with other
jobs (load average 2-10 during the runs), torch 2.13.0 CPU build, fp32, B = 1, one head,
Nq = Nk = N, dk = 64, default 256 MiB budget (N = 16384: 4096-row blocks). Seconds are the
best of 9 runs (3 sessions × 3), peak RSS growth in MiB in brackets. "sdpa-split" is SDPA
with v split into dv/dk heads of 64 that share q and k.

Forward, no grad:

=====  ===  ===========  ===========  ===========  ============  ==========
N      dv   naive        sdpa         chunked      chunked_sdpa  sdpa-split
=====  ===  ===========  ===========  ===========  ============  ==========
4096   64   0.19 (136)   0.03 (6)     0.08 (138)   0.06 (7)      --
4096   512  0.36 (143)   0.40 (176)   0.31 (145)   --            0.39 (37)
16384  64   2.55 (2060)  0.80 (12)    2.35 (533)   0.96 (21)     --
16384  512  5.43 (2057)  5.25 (2322)  5.80 (557)   --            8.06 (72)
=====  ===  ===========  ===========  ===========  ============  ==========

Forward + backward, N = 8192: ``'chunked'`` with a 32 MiB budget (8 blocks) keeps
384 MiB peak without recomputation and 233 MiB with it for dv = 64 (3.15 s / 4.10 s), 515
and 381 MiB for dv = 512 (6.4 s / 5.4 s: the timing noise exceeds the cost of the second
forward). Without recomputation every block's softmax is kept, N²·4 bytes in all (256 MiB
here, 4 GiB at N = 32768); with it the peak stays a few blocks. Naive: 1.78 s / 819 MiB;
SDPA (dv = 64): 0.64 s / 38 MiB at best, but 5.6-19.8 s in the more loaded sessions. The
CPU flash backward suffers from oversubscribed cores: at N = 4096, interleaved, naive vs
SDPA forward + backward took 2.48 vs 1.21 s on one thread and 1.47 vs 3.13 s (median 10.7 s)
on two threads of the loaded machine.

The dispatch rule of that date (kept for the record): dot-product mode ``'linear'``;
equal head sizes ``'sdpa'``; different head sizes (PAM) ``'chunked'``.

Re-derived 2026-12-06 for ``'blocked'`` (``tools/benchmark_attention.py --case ...``, one
process per case, 2 threads, fp32, B = 1, one head; CPU model ``AMD EPYC`` from
/proc/cpuinfo, AVX2, L2 512 KiB per core, L3 32 MiB; the machine was shared: load average
9-14 on its 2 cores, so the seconds are inflated several times and only ratios within a row
mean anything):

=====================================  ============  ============  ==================
case                                   sdpa          blocked       chunked (ckpt)
=====================================  ============  ============  ==================
fwd+bwd, N=4096, dk=dv=64              27.7 s (17)   5.2 s (149)   --
fwd+bwd, N=4096, dk=dv=256             46.0 s (42)   8.6 s (178)   --
fwd+bwd, N=8192, dk=64, dv=512, 64MiB  --            37.1 s (287)  37.2 s (345)
fwd, N=8192, dk=dv=64                  2.4 s (6)     5.0 s (78)    --
=====================================  ============  ============  ==================

Key blocks with an online softmax (``cols`` < Nk in :func:`blocked_attention`) against one
pass over all keys, forward, N = 8192, dk = 64, dv = 512, same session: 1024 query rows with
512 / 2048 / 8192 keys per block took 4.6 / 3.2 / 2.4 s, 256 rows 6.6 / 4.5 / 3.1 s, 4096
rows with 4096 / 8192 keys 1.97 / 1.90 s. A block's softmax passes (max, subtract, exp, sum:
36 ms for 1024 × 8192 fp32) are about 12% of the block's time next to its two GEMMs (56 ms
for ``Q Kᵀ``, whose inner size 64 runs at about 1/3 of the GEMM peak, and 200 ms for
``P V``); cache-sized key blocks shrink the GEMMs and add the rescaling, so on that loaded
machine, with that first online softmax (a fresh score tensor and a rescale on every tile),
they never won and ``'blocked'`` took all keys per query block (key tiles since: below).
Query blocks of 256-4096 rows were within the noise of each other from 1024 rows on, the
largest slightly ahead. So inference takes the rows that fill ``memory_budget`` (2048 rows
at N = 32768), and training the rows of :data:`BLOCKED_BLOCK_BYTES` (32 MiB of scores: 512
rows of 8192 keys at B = 2), which keeps the backward's peak (about three blocks) small next
to the module's own tensors.

After these runs the inference forward of ``'blocked'`` (no backward to serve, so no
log-sum-exp) switched to torch's fused softmax, one pass over a block larger than the cache
instead of four, and every ``exp`` of the function got a floor at -87 (no subnormal
results: DANet's unscaled energies had sent most of each row through x86's slow path).

Key tiles, re-measured 2026-12-06 on the idle machine (``tools/benchmark_attention.py
--tiles``, report ``docs/benchmarks/attention_tiles_cpu.md``): PAM's forward at N = 32768 on
the seeded module's own queries, keys and values. With the online softmax rewritten (one
reused tile buffer, the accumulator updated in place by ``baddbmm_``, and a rescale only
when some row's maximum grows), every tile shape of 512-4096 rows and 1024-4096 keys beat
one pass over all keys per block of 2048 rows, by a sixth to a third (medians of three
interleaved calls); the 2048 × 2048 tile was among the fastest, and the shapes were within
the machine's noise of each other. A profile of the 2048 × 2048 tiles put 80-85% of the time
in the two GEMMs and about 1.1 s of ~9 s in the softmax passes (amax, subtract, floor, exp,
sum), which stay in the cache; torch's fused softmax was slower on the same tile (its
``exp`` has no floor). So inference on a CPU takes :data:`BLOCKED_KEY_TILE` = 2048 keys and
the rows of a :data:`BLOCKED_TILE_BYTES` = 16 MiB tile (2048 rows at one batch·head)
whenever there are two tiles or more. Training keeps one pass over all keys: its forward is
a small part of the step, and a backward over key tiles (it needs no online softmax: the
saved log-sum-exp gives each tile's probabilities) was tried on PAM's training step (B = 2,
64 × 128, tiles of 512-2048 rows and 1024-2048 keys, two rounds, not committed) and stayed
within the machine's noise of one pass, so it was not kept. PAM's forward and training step
against mmseg's on the idle machine: ``docs/benchmarks/attention_cpu.md``.

CUDA, first measured 2026-12-06 on one H100 (``tools/device_cuda_attention.sh``; reports
``docs/benchmarks/attention_cuda_partial.md`` and ``attention_cuda_bf16_partial.md``, cut
short by their time limit): the rule below sent PAM (dk 64, dv 512) to torch's fused
memory-efficient kernel. In fp32 it matched mmseg's output to 2e-6 and the input gradient to
2e-4 of their scale, and it held about a tenth of mmseg's peak, but it was slower than
mmseg's plain matmul-softmax-matmul in bf16 training (by far) and in fp32 inference, and as
fast in bf16 inference. The non-local block (dk = dv = 256) ran at mmcv's speed. Whether
``'blocked'`` (cuBLAS GEMMs per block) or SDPA with the values split into heads of 128 beats
the fused kernel for PAM on a GPU was not measured (no machine was lent again): the rule
stays until the kernel table of that script compares them.

Dispatch rule of ``backend='auto'`` (:func:`select_backend` over the pure
:func:`choose_backend`), drawn from these numbers:

* dot-product mode without bias: ``'linear'`` (no N² term at all); with a tensor or
  relative bias ``'blocked'``;
* CPU, equal key and value head sizes, inference: ``'sdpa'`` (torch's fused CPU kernel, 2×
  faster than ``'blocked'`` at N = 8192 and O(N)); in training ``'blocked'`` (torch's fused
  CPU backward was 5× slower: 27.7 vs 5.2 s);
* CPU, different head sizes (DANet's PAM: 64 vs 512), any bias but a generic callable, or
  training: ``'blocked'`` (as fast as the checkpointed ``'chunked'`` path with a smaller
  peak, because the backward no longer repeats the value product); at inference with key
  tiles (:func:`blocked_cols`, :func:`blocked_rows`);
* CUDA: ``'sdpa'`` wherever a fused kernel accepts the operands (:func:`sdpa_fused_accepts`:
  the memory-efficient kernel takes dk != dv, both multiples of 8, and an additive mask);
  relative logits ``'chunked_sdpa'`` at inference, ``'blocked'`` in training;
* a generic callable bias: ``'chunked_sdpa'`` (equal head sizes) or ``'chunked'``.

Under ``torch.export`` (and so ``torch.onnx.export(..., dynamo=True)``) the graph, not this
code, runs the attention, so two things change (:func:`export_loop`, ``docs/deploy.md``):

* an ONNX graph has no fused attention kernel at the opsets onnxruntime runs (the exporter
  writes SDPA as MatMul-Softmax-MatMul, i.e. with the N×N scores), so ``'sdpa'`` is taken only
  when the whole score matrix fits ``memory_budget``; otherwise ``'chunked'``;
* the query blocks of ``'chunked'`` (without a callable bias) become one
  ``torch._higher_order_ops.scan`` over a padded ``(blocks, B, heads, rows, dk)`` query
  tensor, which the exporter writes as a single ONNX ``Scan``: the graph does not grow with the
  resolution, and with a dynamic input size the row count per block is computed in the graph
  from N, so the bound holds at any size. ``export_loop('unroll')`` gives the plain Python loop
  (one copy of the block per chunk, static shapes only).
"""
import contextlib
from typing import Callable, Iterator, Optional, Union

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .flash_attention import RelativeBias2d, blocked_attention

__all__ = ['attention', 'attention_probs', 'select_backend', 'choose_backend',
           'sdpa_fused_accepts', 'chunk_rows', 'blocked_rows', 'blocked_cols',
           'RelativeBias2d', 'DEFAULT_MEMORY_BUDGET', 'export_loop', 'EXPORT_LOOPS']

#: Bytes one fp32 block of scores may take in the chunked path.
DEFAULT_MEMORY_BUDGET = 256 * 2**20

#: ``bias(start, stop)`` -> additive logits for query rows ``[start, stop)``, broadcastable
#: to ``(B, heads, stop - start, Nk)`` (or ``(B, stop - start, Nk)`` for 3D queries).
BiasFn = Callable[[int, int], torch.Tensor]

_MODES = ('softmax', 'dot_product')
_BACKENDS = ('auto', 'blocked', 'sdpa', 'chunked', 'chunked_sdpa', 'linear', 'naive')

#: How the query blocks of the chunked path are written into an exported graph.
EXPORT_LOOPS = ('scan', 'unroll')
_export_loop = 'scan'


@contextlib.contextmanager
def export_loop(kind: str) -> Iterator[None]:
    """Choose how ``torch.export`` (and the ONNX exporter) sees the chunked path's loop.

    Args:
        kind (str): ``'scan'`` (default): one ``scan`` higher-order op over the query blocks,
            exported as a single ONNX ``Scan`` node; the graph's size does not depend on the
            resolution and a dynamic-shape export keeps the memory bound. ``'unroll'``: the
            eager Python loop, traced into one copy of the block per chunk (static shapes:
            the block count is fixed by the traced size).
    """
    global _export_loop
    if kind not in EXPORT_LOOPS:
        raise ValueError(f'export_loop: kind must be one of {EXPORT_LOOPS}, got {kind!r}')
    prev, _export_loop = _export_loop, kind
    try:
        yield
    finally:
        _export_loop = prev


def _tracing() -> bool:
    """True while torch.export / dynamo / TorchScript trace the graph (export, compile)."""
    is_exporting = getattr(torch.compiler, 'is_exporting', None)
    return bool(torch.compiler.is_compiling() or (is_exporting is not None and is_exporting())
                or torch.jit.is_tracing() or torch.jit.is_scripting())


def _exporting() -> bool:
    """True under ``torch.export`` (used by ``torch.onnx.export(..., dynamo=True)``)."""
    is_exporting = getattr(torch.compiler, 'is_exporting', None)
    return bool(is_exporting is not None and is_exporting())


def _static(*sizes) -> bool:
    """All sizes are plain ints (not symbolic sizes of a dynamic-shape export)."""
    return all(isinstance(n, int) for n in sizes)


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


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


#: Bytes of one fp32 score block of the ``'blocked'`` backend when the budget allows more
#: (measured fastest on this project's CPUs, see the module docstring).
BLOCKED_BLOCK_BYTES = 32 * 2**20

#: Keys per tile, and bytes of fp32 scores per tile, of the ``'blocked'`` forward at
#: inference on a CPU (an online softmax over key tiles; measured fastest there, see the
#: module docstring).
BLOCKED_KEY_TILE = 2048
BLOCKED_TILE_BYTES = 16 * 2**20

#: Half-precision and fp32 dtypes, by name, for :func:`choose_backend`.
_FLOAT_DTYPES = ('float16', 'bfloat16', 'float32', 'float64')


def _dtype_name(dtype) -> str:
    return str(dtype).replace('torch.', '')


def sdpa_fused_accepts(device_type: str, dtype, dk: int, dv: int, bias_kind: Optional[str],
                       needs_grad: bool = False) -> bool:
    """Whether one of ``scaled_dot_product_attention``'s fused CUDA kernels (FlashAttention-2,
    memory-efficient, cuDNN) takes these operands, so that it runs in O(N) memory.

    From ``aten/src/ATen/native/transformers/cuda/sdp_utils.cpp`` (pytorch/pytorch, read at
    commit 001f694a; the same filters are in the 2.13 release): FlashAttention needs
    ``dk == dv <= 256``, fp16/bf16 and no ``attn_mask`` (``check_head_dim_size_flash``,
    ``check_for_attn_mask``); the memory-efficient kernel needs ``q.size(-1) == k.size(-1)``
    and both ``dk`` and ``dv`` divisible by the GEMM alignment (8 for fp16/bf16 on tensor
    cores, 4 for fp32 on sm80+: ``check_head_dim_size_mem_efficient``,
    ``minimum_gemm_alignment``), takes fp32, fp16 and bf16 and an additive float mask, and
    has no upper bound on the head sizes; cuDNN needs both sizes ``<= 128`` (256 on sm90)
    and multiples of 8. So DANet's PAM (dk = 64, dv = 512) runs on the memory-efficient
    kernel. Divisibility by 8 is required here for every dtype, which covers all GPUs.
    On the CPU (``sdp_utils_cpp.cpp``, ``check_head_dim_size_cpp``) the fused kernel needs
    ``dk == dv``; otherwise SDPA takes its N×N math path.
    """
    name = _dtype_name(dtype)
    if bias_kind not in (None, 'tensor') or name not in _FLOAT_DTYPES[:3]:
        return False
    if device_type == 'cuda':
        return dk % 8 == 0 and dv % 8 == 0 and dk > 0 and dv > 0
    if device_type == 'cpu':
        return dk == dv
    return False


def choose_backend(device_type: str,
                   dtype,
                   mode: str = 'softmax',
                   bias_kind: Optional[str] = None,
                   dk: int = 64,
                   dv: int = 64,
                   needs_grad: bool = False,
                   tracing: bool = False,
                   score_bytes: Optional[int] = None,
                   memory_budget: int = DEFAULT_MEMORY_BUDGET) -> str:
    """The backend of ``attention(..., backend='auto')``, from plain values only (so the
    rule is testable for every device and dtype without the device).

    Args:
        device_type (str): ``'cpu'``, ``'cuda'``, ...
        dtype: The compute dtype (the autocast dtype when autocast is on).
        mode (str): 'softmax' or 'dot_product'.
        bias_kind (str, optional): None, 'tensor', 'relative' (:class:`RelativeBias2d`) or
            'callable' (any other ``bias(start, stop)``).
        dk, dv (int): Query/key and value head sizes.
        needs_grad (bool): Autograd will run a backward through the attention.
        tracing (bool): Under torch.compile / torch.export / TorchScript.
        score_bytes (int, optional): Bytes of all fp32 scores (B·heads·Nq·Nk·4), to keep a
            tensor bias of SDPA within the budget on the CPU.
        memory_budget (int): As in :func:`attention`.

    The rule (measurements in the module docstring):

    * dot-product mode: ``'linear'`` without a bias (no score matrix at all); with a tensor
      or relative bias ``'blocked'``, with another callable ``'chunked'``;
    * traced (compile, export): the rule before ``'blocked'`` existed, whose graphs are
      tested: ``'sdpa'`` for equal head sizes, ``'chunked_sdpa'`` for a callable bias,
      otherwise ``'chunked'`` (one ONNX ``Scan`` when exported);
    * CUDA: ``'sdpa'`` wherever a fused kernel accepts the operands
      (:func:`sdpa_fused_accepts`: any head sizes divisible by 8, no bias or a tensor bias);
      relative-position logits go to ``'chunked_sdpa'`` without grad (the logits of each
      query block as the mask of the fused kernel) and to ``'blocked'`` with grad; the rest
      to ``'blocked'``;
    * CPU, equal head sizes, no bias (or a tensor bias within the budget): ``'sdpa'``
      (torch's fused CPU kernel) for inference, ``'blocked'`` for training;
    * everything else: ``'blocked'`` (a generic callable bias: ``'chunked'``).
    """
    if mode == 'dot_product':
        if bias_kind is None:
            return 'linear'
        return 'chunked' if (tracing or bias_kind == 'callable') else 'blocked'
    if tracing:
        if bias_kind in ('callable', 'relative'):
            return 'chunked_sdpa' if dk == dv else 'chunked'
        if dk != dv:
            return 'chunked'
        fits = score_bytes is None or score_bytes <= memory_budget
        return 'sdpa' if bias_kind is None or fits else 'chunked'
    if bias_kind == 'callable':
        return 'chunked_sdpa' if dk == dv else 'chunked'
    if device_type == 'cuda':
        if sdpa_fused_accepts(device_type, dtype, dk, dv, bias_kind, needs_grad):
            return 'sdpa'
        if bias_kind == 'relative' and not needs_grad and dk % 8 == 0 and dv % 8 == 0:
            return 'chunked_sdpa'
        return 'blocked'
    if device_type == 'cpu' and dk == dv and not needs_grad:
        fits = score_bytes is None or score_bytes <= memory_budget
        if bias_kind is None or (bias_kind == 'tensor' and fits):
            return 'sdpa'
    return 'blocked'


def _bias_kind(bias) -> Optional[str]:
    if bias is None:
        return None
    if isinstance(bias, RelativeBias2d):
        return 'relative'
    return 'callable' if callable(bias) else 'tensor'


def _compute_dtype(t: torch.Tensor):
    dev = t.device.type
    if dev in ('cpu', 'cuda') and torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return t.dtype


def select_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mode: str = 'softmax',
                   bias=None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> str:
    """The backend ``attention(..., backend='auto')`` takes for these operands: the rule of
    :func:`choose_backend` applied to their device, dtype, sizes and grad state."""
    q4, k4, v4 = (_as_heads(t, n) for t, n in ((q, 'q'), (k, 'k'), (v, 'v')))
    heads = max(q4.shape[1], k4.shape[1])
    sizes = (q4.shape[0], heads, q4.shape[2], k4.shape[2])
    score_bytes = (sizes[0] * sizes[1] * sizes[2] * sizes[3] * 4) if _static(*sizes) else None
    bias_t = bias if torch.is_tensor(bias) else None
    return choose_backend(q4.device.type, _compute_dtype(q4), mode, _bias_kind(bias),
                          q4.shape[-1], v4.shape[-1],
                          needs_grad=_needs_grad(q4, k4, v4, *(() if bias_t is None else
                                                              (bias_t, ))),
                          tracing=_tracing(), score_bytes=score_bytes,
                          memory_budget=memory_budget)


def blocked_cols(batch_heads: int, num_keys: int, device: str = 'cpu',
                 training: bool = False) -> Optional[int]:
    """Keys per tile of the ``'blocked'`` forward (its online softmax over key blocks), or
    None for one pass over all keys: :data:`BLOCKED_KEY_TILE` at inference on a CPU when there
    are at least two such tiles (measured faster there, see the module docstring); all keys
    in training and on other devices (not measured)."""
    if training or device != 'cpu' or num_keys < 2 * BLOCKED_KEY_TILE:
        return None
    return BLOCKED_KEY_TILE


def blocked_rows(batch_heads: int, num_keys: int, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None, training: bool = True,
                 key_tile: Optional[int] = None) -> int:
    """Query rows per block of ``'blocked'``: ``block_size`` if given; else, in training, as
    many rows as fill :data:`BLOCKED_BLOCK_BYTES` of fp32 scores (the backward holds about
    three such blocks besides the O(N·d) tensors), never more than ``memory_budget``; at
    inference the rows that fill ``memory_budget`` (larger GEMMs), or with key tiles of
    ``key_tile`` keys (:func:`blocked_cols`) the rows of a :data:`BLOCKED_TILE_BYTES` tile."""
    if block_size:
        return max(1, int(block_size))
    if key_tile:
        return min(chunk_rows(batch_heads, key_tile, memory_budget),
                   chunk_rows(batch_heads, key_tile, BLOCKED_TILE_BYTES))
    rows = chunk_rows(batch_heads, num_keys, memory_budget)
    if training:
        rows = min(rows, chunk_rows(batch_heads, num_keys, BLOCKED_BLOCK_BYTES))
    return rows


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
        backend (str): 'auto', 'blocked' (the FlashAttention-2 autograd function; tensor or
            :class:`RelativeBias2d` bias), 'sdpa' (fused SDPA; softmax mode, tensor bias only),
            'chunked' (query blocks, matmul-softmax-matmul), 'chunked_sdpa' (query blocks
            through SDPA; softmax mode), 'linear' (dot-product mode without bias only) or
            'naive'. Default: 'auto' (see :func:`select_backend`).
        block_size (int, optional): Query rows per block of the blocked / chunked paths.
            Default: derived from ``memory_budget``.
        memory_budget (int): Bytes an fp32 score block may take. Default: 256 MiB.
        checkpoint_blocks (bool): ``'chunked'`` only: recompute each block in the backward
            pass so that the backward keeps no N×N either. Default: True.

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
        if _exporting() and backend in ('sdpa', 'chunked_sdpa') and not callable(bias):
            # Exported, SDPA is MatMul-Softmax-MatMul over all N×N scores: keep it only when
            # they fit the budget (known only for static sizes).
            heads = max(q4.shape[1], k4.shape[1])
            sizes = (q4.shape[0], heads, q4.shape[2], k4.shape[2])
            fits = _static(*sizes) and (sizes[0] * sizes[1] * sizes[2] * sizes[3] * 4
                                        <= memory_budget)
            backend = 'sdpa' if fits else 'chunked'

    if backend == 'blocked':
        if callable(bias) and not isinstance(bias, RelativeBias2d):
            raise ValueError("attention: backend='blocked' takes a tensor bias or a "
                             'RelativeBias2d, not another callable')
        heads = max(q4.shape[1], k4.shape[1])
        bias_t = bias if torch.is_tensor(bias) else None
        training = _needs_grad(q4, k4, v4, *(() if bias_t is None else (bias_t, )))
        cols = blocked_cols(q4.shape[0] * heads, k4.shape[2], q4.device.type, training)
        rows = blocked_rows(q4.shape[0] * heads, k4.shape[2], memory_budget, block_size,
                            training=training, key_tile=cols)
        rel = bias if isinstance(bias, RelativeBias2d) else None
        out = blocked_attention(q4, k4, v4, scale, mode, bias=None if rel is not None else bias,
                                rel=rel, rows=rows, cols=cols)
    elif backend == 'sdpa':
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
        if backend == 'chunked_sdpa' and mode != 'softmax':
            raise ValueError("attention: backend='chunked_sdpa' needs mode='softmax'")
        out = _chunked(q4, k4, v4, scale, mode, bias, block_size, memory_budget,
                       checkpoint_blocks, fused=backend == 'chunked_sdpa')
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


def _chunked(q, k, v, scale, mode, bias, block_size, memory_budget, checkpoint_blocks,
             fused=False):
    """Exact attention over blocks of query rows. ``fused``: each block through SDPA with
    the block's logits as an additive mask (its kernel keeps the softmax statistics in
    fp32), else ``_block``."""
    nq = q.shape[2]
    heads = max(q.shape[1], k.shape[1])
    if (_exporting() and _export_loop == 'scan' and not fused and not callable(bias)
            and (bias is None or bias.shape[-2] == 1)):
        return _chunked_scan(q, k, v, scale, mode, bias, block_size, memory_budget)
    rows = block_size or chunk_rows(q.shape[0] * heads, k.shape[2], memory_budget)
    rows = max(1, min(int(rows), nq))
    recompute = (checkpoint_blocks and rows < nq and _needs_grad(q, k, v) and not _tracing())

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
            return _sdpa(qb, k, v, scale, bias_b)
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


def _chunked_scan(q, k, v, scale, mode, bias, block_size, memory_budget):
    """The chunked path as one ``scan`` over query blocks, for ``torch.export``.

    The queries are zero-padded to a whole number of blocks and reshaped to
    (blocks, B, heads, rows, dk); the scan body is :func:`_block` on one of them, and the
    stacked (blocks, B, heads, rows, dv) outputs are cut back to Nq rows. Padded rows are
    ordinary (finite) attention rows that are dropped, so the result equals the eager loop.
    With symbolic sizes (dynamic-shape export) ``rows`` is computed in the graph from Nk.
    """
    b, _, nq, dk = q.shape
    heads = max(q.shape[1], k.shape[1])
    if block_size:
        rows = int(block_size)
    else:
        # chunk_rows() with symbolic-size arithmetic: max(1, budget // (4·B·heads·Nk)).
        rows = torch.sym_max(1, int(memory_budget) // (4 * max(1, b * heads) * k.shape[2]))
    rows = torch.sym_min(rows, nq)
    if _static(rows, nq) and rows >= nq:
        return _block(q, k, v, scale, mode, bias)
    blocks = (nq + rows - 1) // rows
    q = _expand_heads(q, heads)
    xs = F.pad(q, (0, 0, 0, blocks * rows - nq)).reshape(b, heads, blocks, rows, dk)
    xs = xs.permute(2, 0, 1, 3, 4)
    # A scan body may not alias its inputs (k and v are often views of one projection), and
    # its carry must be a fresh tensor each step: both are copies of O(N·d) / O(1).
    k, v = k.clone(), v.clone()
    bias = bias.clone() if bias is not None else None

    def body(carry, qb):
        return carry.clone(), _block(qb, k, v, scale, mode, bias)

    from torch._higher_order_ops.scan import scan
    _, out = scan(body, q.new_zeros(()), xs)
    out = out.permute(1, 2, 0, 3, 4).reshape(b, heads, blocks * rows, out.shape[-1])
    return out[:, :, :nq]


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
