"""Exact attention with O(N) training memory: the FlashAttention-2 formulation in PyTorch ops.

Tri Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning",
arXiv 2307.08691 (2023). The forward (Algorithm 1) keeps, per query row, the running maximum
``m`` and sum ``l`` of the exponentials over blocks of keys (the online softmax of Milakov and
Gimelshein, arXiv 1805.02867) and saves only the output ``O`` and the row log-sum-exp
``L = m + log l``. The backward (Algorithm 2) recomputes, block by block,
``P = exp(S - L)`` from the saved ``L`` and forms

    dV = Pᵀ dO,   dP = dO Vᵀ,   D = rowsum(dO ∘ O),   dS = P ∘ (dP - D),
    dQ = dS K · scale,   dK = dSᵀ Q · scale

(Algorithm 2, lines 11-21; ``D`` is line 4 / Eq. of Sec. 2.3.2), so no score block outlives
its own iteration: the memory is O(N·d) plus one or two blocks, and the only work added to the
plain backward is the score product ``Q Kᵀ`` (for DANet's PAM, N²·64 of the N²·(64+512)·... of
the whole step), where recomputing the block with ``torch.utils.checkpoint`` repeats the whole
forward, value product included.

Departures from the GPU algorithm, which tiles for on-chip SRAM:

* the loops run in Python over blocks handled by batched PyTorch ops (GEMMs through the BLAS),
  and the outer loop of the backward is over query blocks with dK and dV accumulated in fp32
  buffers of O(N·d) (Algorithm 2 loops over key blocks and accumulates dQ; on a CPU neither
  order parallelises differently, and query blocks let a block of the forward's bias be reused
  as is);
* key blocks (the online softmax) are optional: ``cols >= Nk`` gives one pass over all keys per
  query block, with the softmax of that block done in place. Which one is faster depends on the
  cache and the head sizes; :func:`attnplug.functional.bounded_attention.select_backend` holds
  the rule and the measurements it came from;
* scores, the softmax and every accumulator are fp32 for bf16 and fp16 inputs. fp16 operands
  are widened to fp32 for the products too (unscaled energies overflow 65504); bf16 operands
  are widened when ``wide_gemm`` is set (a CPU without native bf16 GEMM runs them about 50×
  slower than fp32: 0.7 against 54 GFLOP/s measured on the 2-core AMD EPYC of 2026-12-06);
* ``mode='dot_product'`` (Eq. 4 of Non-local Neural Networks, arXiv 1711.07971: no softmax,
  ``C(x) = Nk``): ``O = (S / Nk) V``, ``dS = dO Vᵀ / Nk``; nothing but the inputs is saved;
* a bias may be a tensor broadcastable to the scores (its gradient is reduced to its own shape)
  or :class:`RelativeBias2d`, the relative-position logits of BoTNet (arXiv 2101.11605) given
  by their O(N·(H+W)) factors; its gradient is scattered back to those factors block by block.
"""
from typing import Optional, Tuple

import torch

__all__ = ['RelativeBias2d', 'blocked_attention', 'FlashAttentionFunction']


class RelativeBias2d:
    """Relative-position logits of a ``height × width`` map, given by their factors.

    ``bias[b, h, i, j] = rel_h[b, h, i, y_j - y_i + H - 1] + rel_w[b, h, i, x_j - x_i + W - 1]``
    for query ``i`` and key ``j`` at pixels ``(y, x)`` (row-major, ``N = H·W``). The factors
    are ``q · r^H`` and ``q · r^W`` of every query against every offset (BoTNet, Fig. 4), so
    the N×N logits are never built: a block of query rows is gathered when it is used, and
    its gradient is scattered back to the factors.

    Args:
        rel_h (Tensor): (B, heads, Nq, 2H - 1) logits against every row offset.
        rel_w (Tensor): (B, heads, Nq, 2W - 1) logits against every column offset.
        height (int), width (int): The key map's size (``Nk = H·W``, query ``i`` at
            ``(i // W, i % W)``).
    """

    def __init__(self, rel_h: torch.Tensor, rel_w: torch.Tensor, height: int, width: int):
        if rel_h.shape[-1] != 2 * height - 1 or rel_w.shape[-1] != 2 * width - 1:
            raise ValueError(f'RelativeBias2d: factors of shape {tuple(rel_h.shape)} / '
                             f'{tuple(rel_w.shape)} do not match a {height}x{width} map '
                             f'(last sizes {2 * height - 1} / {2 * width - 1} expected)')
        self.rel_h, self.rel_w = rel_h, rel_w
        self.height, self.width = height, width

    def _index(self, start: int, stop: int, device):
        h, w = self.height, self.width
        idx = torch.arange(start, stop, device=device)
        ih = torch.arange(h, device=device) - (idx // w).unsqueeze(1) + (h - 1)  # (r, H)
        iw = torch.arange(w, device=device) - (idx % w).unsqueeze(1) + (w - 1)  # (r, W)
        return ih, iw

    def block(self, start: int, stop: int, rel_h=None, rel_w=None) -> torch.Tensor:
        """The logits of query rows ``[start, stop)``: (B, heads, rows, H·W)."""
        rel_h = self.rel_h if rel_h is None else rel_h
        rel_w = self.rel_w if rel_w is None else rel_w
        lh, lw = rel_h[:, :, start:stop], rel_w[:, :, start:stop]
        b, nh, r = lh.shape[:3]
        ih, iw = self._index(start, stop, lh.device)
        rh = torch.gather(lh, -1, ih.expand(b, nh, r, self.height))
        rw = torch.gather(lw, -1, iw.expand(b, nh, r, self.width))
        return (rh.unsqueeze(-1) + rw.unsqueeze(-2)).reshape(b, nh, r, -1)

    __call__ = block  # the ``bias(start, stop)`` protocol of the chunked path

    def block_grad(self, ds: torch.Tensor, start: int, stop: int):
        """Gradients of the two factors' rows ``[start, stop)`` from the logits' gradient
        ``ds`` (B, heads, rows, H·W): each factor entry collects the pairs at its offset."""
        b, nh, r, _ = ds.shape
        ds = ds.reshape(b, nh, r, self.height, self.width)
        ih, iw = self._index(start, stop, ds.device)
        gh = ds.new_zeros(b, nh, r, 2 * self.height - 1)
        gw = ds.new_zeros(b, nh, r, 2 * self.width - 1)
        gh.scatter_add_(-1, ih.expand(b, nh, r, self.height), ds.sum(-1))
        gw.scatter_add_(-1, iw.expand(b, nh, r, self.width), ds.sum(-2))
        return gh, gw


def _reduce_to(grad: torch.Tensor, shape) -> torch.Tensor:
    """Sum a gradient over the dimensions along which an operand of ``shape`` broadcast."""
    lead = grad.dim() - len(shape)
    if lead:
        grad = grad.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(dim=dims, keepdim=True) if dims else grad


def _bias_block(bias, rel, start, stop, acc_t):
    """The fp32 (fp64) bias of query rows ``[start, stop)`` (None without a bias)."""
    out = None
    if bias is not None:
        out = bias if bias.shape[-2] == 1 else bias[..., start:stop, :]
        out = out.to(acc_t)
    if rel is not None:
        rb = rel.block(start, stop).to(acc_t)
        out = rb if out is None else out + rb
    return out


def _acc_dtype(t: torch.Tensor) -> torch.dtype:
    """fp32 accumulation, fp64 for fp64 operands (gradcheck)."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


#: ``exp`` of a logit more than this far below its row's maximum (or log-sum-exp) is below
#: the smallest normal float32 (exp(-87.34)); such arguments are raised to it. Subnormal
#: results go through a slow microcode path on x86 CPUs, and the unscaled energies of
#: DANet's PAM send most of a row there (profiled at its training size on 2 cores, exp_ took
#: a third of the step's CPU time without the floor; docs/benchmarks/attention_cpu.md
#: has the step after it). The change to a probability is at most exp(-87) = 1.6e-38, far
#: below float32 rounding of any row that sums to 1.
EXP_FLOOR = {torch.float32: -87.0}


def _exp_(t: torch.Tensor) -> torch.Tensor:
    """``t.exp_()`` for logits already shifted to at most 0, with no subnormal result."""
    floor = EXP_FLOOR.get(t.dtype)
    return (t.clamp_(min=floor) if floor is not None else t).exp_()


class _BlockBuffer:
    """One block-sized tensor that the blocks of a call reuse for their scores (and their
    gradient), instead of allocating tens of MiB per block: each fresh allocation of that size
    is a new mapping whose pages fault in (glibc maps blocks this large directly). A smaller
    block (the last rows or keys) is a contiguous view of the front of the same storage."""

    def __init__(self):
        self.t = None

    def matmul(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        shape = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        if torch.is_grad_enabled():  # out= takes no part in autograd (double backward)
            return torch.matmul(a, b)
        numel = shape.numel()
        t = self.t
        if t is None or t.numel() < numel or t.dtype != a.dtype or t.device != a.device:
            t = self.t = torch.empty(numel, dtype=a.dtype, device=a.device)
        return torch.matmul(a, b, out=t[:numel].view(shape))


def _forward(q, k, v, scale, mode, bias, rel, rows, cols, need_lse=True):
    """O (B, heads, Nq, dv) in fp32 and the row log-sum-exp L (B, heads, Nq) (None in
    dot-product mode). All operands are (B, heads, N, d) in the compute dtype."""
    acc_t = _acc_dtype(q)
    b, nh, nq, _ = q.shape
    out = q.new_empty(b, nh, nq, v.shape[-1], dtype=acc_t)
    lse = q.new_empty(b, nh, nq, dtype=acc_t) if mode == 'softmax' else None
    # The scores are formed from fp32 (fp64) operands whatever the input dtype: a bf16 GEMM
    # rounds its output to bf16, and unscaled energies of ~1e3 would lose whole units.
    kt = k.to(acc_t).transpose(-2, -1)
    factor = scale if mode == 'softmax' else scale / k.shape[2]
    buf = _BlockBuffer()
    for start in range(0, nq, rows):
        stop = min(start + rows, nq)
        qb = q[:, :, start:stop].to(acc_t)
        if factor != 1.0:
            qb = qb * factor  # rows × dk multiplications instead of rows × Nk
        bias_b = _bias_block(bias, rel, start, stop, acc_t)
        out[:, :, start:stop], lse_b = _forward_block(qb, kt, v, bias_b, mode, cols, need_lse,
                                                      buf)
        if lse is not None and lse_b is not None:
            lse[:, :, start:stop] = lse_b
    return out, lse


def _forward_block(qb, kt, v, bias_b, mode, cols, need_lse=True, buf=None):
    """One block of query rows: (output, log-sum-exp) with the softmax in fp32, over key
    blocks of ``cols`` (online softmax; ``cols >= Nk``: one block of all keys, softmax in
    place). Over all keys without ``need_lse`` (no backward will run) torch's fused softmax
    is used: one pass over a block that exceeds the cache instead of four."""
    nk = kt.shape[-1]
    scores = (buf or _BlockBuffer()).matmul
    if mode == 'dot_product':
        s = scores(qb, kt)
        if bias_b is not None:
            s.add_(bias_b / nk)
        return torch.matmul(s.to(v.dtype), v), None
    if not need_lse and cols >= nk:
        s = scores(qb, kt)
        if bias_b is not None:
            s.add_(bias_b)
        return torch.matmul(torch.softmax(s, dim=-1).to(v.dtype), v).to(qb.dtype), None
    # online softmax over key blocks (Algorithm 1, lines 6-10): the block's rows keep their
    # running maximum m, sum l and output accumulator; a key tile's scores live in one reused
    # buffer sized to the cache, and acc, l are rescaled only when some row's maximum grows.
    m = l_ = acc = None
    for c0 in range(0, nk, cols):
        c1 = min(c0 + cols, nk)
        s = scores(qb, kt[..., c0:c1])
        if bias_b is not None:
            s.add_(bias_b[..., c0:c1])
        m_tile = s.amax(dim=-1, keepdim=True)
        if m is None:
            m = m_tile
        elif bool((m_tile > m).any()):
            m_new = torch.maximum(m, m_tile)
            alpha = (m - m_new).nan_to_num_(nan=0.0).exp_()  # -inf - -inf: a masked row
            acc.mul_(alpha)
            l_.mul_(alpha)
            m = m_new
        _exp_(s.sub_(m.nan_to_num(neginf=0.0)))  # a row masked so far: exp(-inf) = 0
        p = s.to(v.dtype)
        if acc is None:
            l_ = s.sum(dim=-1, keepdim=True)
            acc = torch.matmul(p, v[:, :, c0:c1]).to(qb.dtype)
        else:
            l_.add_(s.sum(dim=-1, keepdim=True))
            _accumulate(acc, p, v[:, :, c0:c1])
    return acc.div_(l_), (m + l_.log()).squeeze(-1)


def _accumulate(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor, alpha: float = 1.0):
    """``acc += alpha · a @ b`` in place (one ``baddbmm_`` into the fp32 accumulator, no
    N×d temporary per block) when the operands allow it, else through a temporary."""
    if (a.dtype == b.dtype == acc.dtype and acc.is_contiguous() and a.shape[:-2] == b.shape[:-2]
            == acc.shape[:-2]):
        lead = acc.shape[:-2].numel()
        acc.view(lead, *acc.shape[-2:]).baddbmm_(a.reshape(lead, *a.shape[-2:]),
                                                 b.reshape(lead, *b.shape[-2:]), alpha=alpha)
    else:
        acc += torch.matmul(a, b).to(acc.dtype).mul_(alpha)


def _backward(q, k, v, out, lse, dout, scale, mode, bias, rel, rows, need_bias_grad):
    """dQ, dK, dV (fp32, shaped like the expanded operands) and the bias gradients, one
    query block at a time (Algorithm 2 with the loops exchanged, see the module docstring)."""
    acc_t = _acc_dtype(q)
    nq, nk = q.shape[2], k.shape[2]
    dq = torch.empty(q.shape, dtype=acc_t, device=q.device)
    dk = torch.zeros(k.shape, dtype=acc_t, device=q.device)
    dv = torch.zeros(v.shape, dtype=acc_t, device=q.device)
    dbias = torch.zeros(bias.shape, dtype=acc_t, device=q.device) if need_bias_grad[0] else None
    drel = ((torch.zeros_like(rel.rel_h, dtype=acc_t), torch.zeros_like(rel.rel_w, dtype=acc_t))
            if need_bias_grad[1] else None)
    kt = k.to(acc_t).transpose(-2, -1)
    vt = v.to(acc_t).transpose(-2, -1)  # dP = dO Vᵀ in fp32: dS = P ∘ (dP - D) cancels
    dout_c = dout.to(v.dtype)
    dout_w = dout.to(acc_t)
    if mode == 'softmax':
        # D_i = rowsum(dO_i ∘ O_i) (Algorithm 2, line 4), in fp32
        delta = (dout.to(acc_t) * out.to(acc_t)).sum(dim=-1, keepdim=True)
    factor = scale if mode == 'softmax' else scale / nk
    s_buf, dp_buf = _BlockBuffer(), _BlockBuffer()
    for start in range(0, nq, rows):
        stop = min(start + rows, nq)
        qb = q[:, :, start:stop]
        qw = qb.to(acc_t)
        dob = dout_c[:, :, start:stop]
        bias_b = _bias_block(bias, rel, start, stop, acc_t)
        s = s_buf.matmul(qw * factor if factor != 1.0 else qw, kt)
        if mode == 'softmax':
            if bias_b is not None:
                s.add_(bias_b)
            p = _exp_(s.sub_(lse[:, :, start:stop].unsqueeze(-1)))  # P = exp(S - L)
        else:
            if bias_b is not None:
                s.add_(bias_b / nk)
            p = s  # P = S / Nk
        p_c = p.to(v.dtype)
        _accumulate(dv, p_c.transpose(-2, -1), dob)  # dV += Pᵀ dO
        dp = dp_buf.matmul(dout_w[:, :, start:stop], vt)  # dP = dO Vᵀ
        if mode == 'softmax':
            ds = dp.sub_(delta[:, :, start:stop]).mul_(p)  # dS = P ∘ (dP - D)
        else:
            ds = dp.div_(nk)  # dS = dP / Nk (the gradient of the logits)
        if dbias is not None:
            if bias.shape[-2] == 1:
                dbias += _reduce_to(ds.sum(dim=-2, keepdim=True), bias.shape)
            else:
                dbias[..., start:stop, :] += _reduce_to(ds, bias.shape[:-2] + (stop - start,
                                                                              nk))
        if drel is not None:
            gh, gw = rel.block_grad(ds, start, stop)
            drel[0][:, :, start:stop] += gh
            drel[1][:, :, start:stop] += gw
        ds_c = ds.to(q.dtype)
        dq[:, :, start:stop] = torch.matmul(ds_c, k).to(acc_t).mul_(scale)  # dQ = dS K · scale
        _accumulate(dk, ds_c.transpose(-2, -1), qb, scale)  # dK += dSᵀ Q · scale
    return dq, dk, dv, dbias, drel


class FlashAttentionFunction(torch.autograd.Function):
    """``O = softmax(Q Kᵀ · scale + bias) V`` (or ``(Q Kᵀ · scale + bias) / Nk · V``) whose
    forward saves Q, K, V, O and the row log-sum-exp, and whose backward recomputes the
    probabilities block by block (FlashAttention-2, arXiv 2307.08691, Alg. 1-2).

    ``apply(q, k, v, bias, rel_h, rel_w, scale, mode, rows, cols, rel_hw)``: q, k, v
    (B, heads, N, d) of one dtype (k, v may have 1 head, shared); ``bias`` a tensor
    broadcastable to (B, heads, Nq, Nk) or None; ``rel_h, rel_w, rel_hw`` the factors and
    map size of a :class:`RelativeBias2d` or None. Returns O in the operands' dtype.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, rel_h, rel_w, scale, mode, rows, cols, rel_hw):
        heads = max(q.shape[1], k.shape[1], v.shape[1])
        qe, ke, ve = (t.expand(t.shape[0], heads, *t.shape[2:]) for t in (q, k, v))
        rel = RelativeBias2d(rel_h, rel_w, *rel_hw) if rel_h is not None else None
        with torch.autocast(q.device.type, enabled=False) if q.device.type in (
                'cpu', 'cuda') else _nullcontext():
            out, lse = _forward(qe, ke, ve, scale, mode, bias, rel, rows, cols,
                                need_lse=any(ctx.needs_input_grad[:6]))
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse, bias, rel_h, rel_w)
        ctx.config = (scale, mode, rows, rel_hw)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse, bias, rel_h, rel_w = ctx.saved_tensors
        scale, mode, rows, rel_hw = ctx.config
        heads = max(q.shape[1], k.shape[1], v.shape[1])
        qe, ke, ve = (t.expand(t.shape[0], heads, *t.shape[2:]) for t in (q, k, v))
        rel = RelativeBias2d(rel_h, rel_w, *rel_hw) if rel_h is not None else None
        need = (bias is not None and ctx.needs_input_grad[3],
                rel is not None and (ctx.needs_input_grad[4] or ctx.needs_input_grad[5]))
        with torch.autocast(q.device.type, enabled=False) if q.device.type in (
                'cpu', 'cuda') else _nullcontext():
            dq, dk, dv, dbias, drel = _backward(qe, ke, ve, out, lse, dout, scale, mode,
                                                bias, rel, rows, need)
        grads = [_reduce_to(g, t.shape).to(t.dtype) for g, t in ((dq, q), (dk, k), (dv, v))]
        grads.append(dbias.to(bias.dtype) if dbias is not None else None)
        grads += ([drel[0].to(rel_h.dtype), drel[1].to(rel_w.dtype)] if drel is not None else
                  [None, None])
        return (*grads, None, None, None, None, None)


class _nullcontext:

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def blocked_attention(q: torch.Tensor,
                      k: torch.Tensor,
                      v: torch.Tensor,
                      scale: float,
                      mode: str = 'softmax',
                      bias: Optional[torch.Tensor] = None,
                      rel: Optional[RelativeBias2d] = None,
                      rows: int = 256,
                      cols: Optional[int] = None,
                      wide_gemm: Optional[bool] = None) -> torch.Tensor:
    """Exact attention over query (and optionally key) blocks with the FlashAttention-2
    backward. Operands are (B, heads, N, d); k and v may have one head shared by all.

    Args:
        scale (float): Factor on ``q kᵀ``.
        mode (str): 'softmax' or 'dot_product' (divide by Nk, no softmax).
        bias (Tensor, optional): Additive logits broadcastable to (B, heads, Nq, Nk).
        rel (RelativeBias2d, optional): Relative-position logits (added to ``bias``).
        rows (int): Query rows per block.
        cols (int, optional): Keys per block of the online softmax; None or ``>= Nk``: one
            pass over all keys.
        wide_gemm (bool, optional): Run the products of bf16 operands in fp32. Default:
            on a CPU without native bf16 GEMM (see :func:`cpu_has_bf16_gemm`).

    Returns:
        Tensor: (B, heads, Nq, dv) in the dtype of the operands (the compute dtype of an
        active autocast).
    """
    dtype = q.dtype
    dev = q.device.type
    if dev in ('cpu', 'cuda') and torch.is_autocast_enabled(dev):
        dtype = torch.get_autocast_dtype(dev)
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        dtype = torch.float32
    if wide_gemm is None:
        wide_gemm = dev == 'cpu' and not cpu_has_bf16_gemm()
    compute = dtype
    if dtype == torch.float16 or (dtype == torch.bfloat16 and wide_gemm):
        compute = torch.float32
    q, k, v = (t.to(compute) for t in (q, k, v))
    rel_h = rel_w = None
    rel_hw = None
    if rel is not None:
        rel_h, rel_w, rel_hw = rel.rel_h.to(compute), rel.rel_w.to(compute), (rel.height,
                                                                               rel.width)
    if bias is not None and not torch.is_floating_point(bias):
        raise ValueError('blocked_attention: bias must be a float tensor')
    nk = k.shape[2]
    cols = nk if cols is None else max(1, min(int(cols), nk))
    rows = max(1, min(int(rows), q.shape[2]))
    out = FlashAttentionFunction.apply(q, k, v, bias, rel_h, rel_w, float(scale), mode, rows,
                                       cols, rel_hw)
    return out.to(dtype)


def cpu_has_bf16_gemm() -> bool:
    """True when this CPU has a native bf16 dot product (AVX512-BF16 or AMX), so that
    torch's bf16 GEMM is fast; on an AVX2 CPU it is emulated and far slower than fp32."""
    capabilities = getattr(torch.cpu, 'get_capabilities', None)  # public; absent in old torch
    if capabilities is None:
        return False
    flags = capabilities()
    return bool(flags.get('avx512_bf16') or flags.get('amx_bf16'))
