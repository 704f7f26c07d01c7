"""The FlashAttention-2 autograd function (attnplug.functional.flash_attention): gradcheck in
float64, equality with the plain formula, what it saves, and the layers that use it (PAM, every
non-local mode, multi-head self-attention with each position encoding) against the naive
formula at 23x31, forward and backward."""
import importlib

import pytest
import torch

from attnplug.functional import (FlashAttentionFunction, RelativeBias2d, attention,
                                 blocked_attention)

bounded = importlib.import_module('attnplug.functional.bounded_attention')
flash = importlib.import_module('attnplug.functional.flash_attention')


def naive(q, k, v, scale, mode='softmax', bias=None):
    """softmax(q kᵀ·scale + bias) v, or (q kᵀ·scale + bias) / Nk · v, with autograd."""
    s = torch.matmul(q, k.transpose(-2, -1)) * scale
    if bias is not None:
        s = s + bias
    p = s.softmax(-1) if mode == 'softmax' else s / k.shape[-2]
    return torch.matmul(p, v)


def _leaves(*shapes, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=dtype).requires_grad_() for s in shapes]


# (rows, cols): one block; uneven query blocks over all keys; query and key blocks (online
# softmax) that divide neither size; one row and one key per block
BLOCKINGS = [(64, None), (3, None), (3, 4), (1, 1)]


@pytest.mark.parametrize('rows,cols', BLOCKINGS)
@pytest.mark.parametrize('mode', ['softmax', 'dot_product'])
@pytest.mark.parametrize('kv_heads', [1, 3], ids=['shared-kv', 'per-head-kv'])
def test_gradcheck_float64(rows, cols, mode, kv_heads):
    q, k, v, bias = _leaves((2, 3, 7, 3), (2, kv_heads, 9, 3), (2, kv_heads, 9, 4), (3, 7, 9))

    def f(q, k, v, bias):
        return blocked_attention(q, k, v, 0.7, mode, bias=bias, rows=rows, cols=cols)

    # one-row, one-key blocks: gradcheck's fast mode (a random projection of the Jacobian)
    assert torch.autograd.gradcheck(f, (q, k, v, bias), fast_mode=rows == 1)
    torch.testing.assert_close(f(q, k, v, bias), naive(q, k, v, 0.7, mode, bias),
                               atol=1e-12, rtol=0)


@pytest.mark.parametrize('rows,cols', [(5, None), (5, 7), (12, 3)])
def test_gradcheck_relative_bias(rows, cols):
    h, w = 3, 4
    n = h * w
    q, k, v, rh, rw = _leaves((1, 2, n, 5), (1, 2, n, 5), (1, 2, n, 3), (1, 2, n, 2 * h - 1),
                              (1, 2, n, 2 * w - 1))

    def f(q, k, v, rh, rw):
        return blocked_attention(q, k, v, 1.0, rel=RelativeBias2d(rh, rw, h, w), rows=rows,
                                 cols=cols)

    assert torch.autograd.gradcheck(f, (q, k, v, rh, rw))
    # the gathered logits are q·r^H[y_k - y_q] + q·r^W[x_k - x_q], written out per pair
    full = torch.zeros(1, 2, n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            full[..., i, j] = (rh[..., i, j // w - i // w + h - 1]
                               + rw[..., i, j % w - i % w + w - 1])
    torch.testing.assert_close(f(q, k, v, rh, rw), naive(q, k, v, 1.0, bias=full),
                               atol=1e-12, rtol=0)


def test_gradcheck_row_broadcast_bias():
    """A bias broadcast over the query rows gets its gradient summed over them."""
    q, k, v, bias = _leaves((2, 1, 9, 4), (2, 1, 10, 4), (2, 1, 10, 3), (2, 1, 1, 10))
    assert torch.autograd.gradcheck(
        lambda *t: blocked_attention(*t[:3], 0.5, bias=t[3], rows=4, cols=3), (q, k, v, bias))


def test_saves_no_score_block(monkeypatch):
    """The forward saves q, k, v, the output and the row log-sum-exp: O(N·d), no N×N."""
    n = 96
    q, k, v = (t.detach().float().requires_grad_() for t in _leaves((1, 1, n, 8),
                                                                      (1, 1, n, 8),
                                                                      (1, 1, n, 16)))
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = blocked_attention(q, k, v, 0.3, rows=16)
    assert saved and max(s[-2] * s[-1] if len(s) > 1 else s[0] for s in saved) < n * n
    assert (1, 1, n) in saved  # the log-sum-exp
    out.sum().backward()
    assert all(t.grad is not None for t in (q, k, v))


def test_backward_recomputes_only_the_scores():
    """Per query block the backward runs five products (Q Kᵀ, Pᵀ dO, dO Vᵀ, dS K, dSᵀ Q),
    never the forward's value product P V again, as a checkpointed block would."""
    from torch.utils._python_dispatch import TorchDispatchMode
    n, rows, dv = 40, 10, 24
    q, k, v = (t.detach().float().requires_grad_() for t in _leaves((1, 1, n, 8),
                                                                      (1, 1, n, 8),
                                                                      (1, 1, n, dv)))
    out = blocked_attention(q, k, v, 0.3, rows=rows)
    products = []

    class RecordProducts(TorchDispatchMode):

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.__name__
            if 'mm' in name:  # mm, bmm, baddbmm, addmm: (inner size, output size)
                a, b = (args[1], args[2]) if 'add' in name else (args[0], args[1])
                products.append((a.shape[-1], a.shape[-2], b.shape[-1]))
            return func(*args, **(kwargs or {}))

    with RecordProducts():
        out.square().sum().backward()
    assert len(products) == 5 * (n // rows), products
    assert (n, rows, dv) not in products  # P V: inner size Nk, rows × dv out


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('wide', [True, False])
def test_half_precision_accumulates_in_fp32(dtype, wide):
    """Unscaled energies of ~1e4 overflow fp16; the softmax and the accumulators run in fp32,
    so the result is the fp64 one to the input rounding."""
    q, k, v = (t.detach() for t in _leaves((1, 2, 33, 8), (1, 2, 33, 8), (1, 2, 33, 24)))
    q, k = q * 30, k * 30
    ref = naive(*(t.to(dtype).double() for t in (q, k, v)), 1.0)
    leaves = [t.to(dtype).requires_grad_() for t in (q, k, v)]
    out = blocked_attention(*leaves, 1.0, rows=8, cols=10, wide_gemm=wide)
    assert out.dtype == dtype and torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.double(), ref, atol=0.05, rtol=0.02)
    out.float().sum().backward()
    assert all(t.grad.dtype == dtype and torch.isfinite(t.grad.float()).all() for t in leaves)


def test_autocast_gives_the_autocast_dtype():
    q, k, v = (t.detach().float() for t in _leaves((1, 1, 20, 8), (1, 1, 20, 8), (1, 1, 20, 8)))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = blocked_attention(q, k, v, 0.5, rows=7)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.double(), naive(q.double(), k.double(), v.double(), 0.5),
                               atol=0.03, rtol=0)


def test_function_is_what_auto_runs_for_training(monkeypatch):
    """backend='auto' sends PAM-like operands (dk != dv) to the autograd function, with
    query blocks bounded by the budget, and the gradients equal the formula's."""
    applied = []
    real = FlashAttentionFunction.apply

    def spy(*args):
        applied.append(args[8])  # rows
        return real(*args)

    monkeypatch.setattr(FlashAttentionFunction, 'apply', spy)
    q, k, v = (t.detach().float().requires_grad_() for t in _leaves((2, 50, 8), (2, 50, 8),
                                                                      (2, 50, 24)))
    out = attention(q, k, v, scale=1.0, memory_budget=4 * 2 * 50 * 16)
    assert applied == [16]
    out.square().sum().backward()
    ref = [t.detach().double().requires_grad_() for t in (q, k, v)]
    naive(*ref, 1.0).square().sum().backward()
    for got, exp in zip((q, k, v), ref):
        torch.testing.assert_close(got.grad.double(), exp.grad, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ the layers, at 23x31


def _naive_attention(q, k, v, scale=None, mode='softmax', bias=None, **_):
    """Drop-in for attnplug.functional.attention: the dense formula in float64."""
    squeeze = q.dim() == 3
    if scale is None:
        scale = q.shape[-1]**-0.5 if mode == 'softmax' else 1.0
    q4, k4, v4 = (t if t.dim() == 4 else t.unsqueeze(1) for t in (q, k, v))
    if callable(bias):
        bias = bias(0, q4.shape[2])
    out = naive(q4.double(), k4.double(), v4.double(), scale, mode,
                None if bias is None else bias.double()).to(q.dtype)
    return out.squeeze(1) if squeeze else out


def _layer_cases():
    from attnplug.layers import MultiHeadSelfAttention2d, NonLocal2d, PositionAttention
    return {
        'PAM': (lambda: PositionAttention(16, block_size=100), 'danet'),
        'NL-embedded-scale': (lambda: NonLocal2d(16, block_size=100), 'non_local'),
        'NL-embedded-noscale': (lambda: NonLocal2d(16, use_scale=False, block_size=100),
                                'non_local'),
        'NL-gaussian': (lambda: NonLocal2d(16, mode='gaussian', block_size=100), 'non_local'),
        'NL-dot-product': (lambda: NonLocal2d(16, mode='dot_product', block_size=100),
                           'non_local'),
        'NL-subsample': (lambda: NonLocal2d(16, sub_sample=True, block_size=100), 'non_local'),
        'MHSA-absolute': (lambda: MultiHeadSelfAttention2d(16, num_heads=2, block_size=100),
                          'multi_head_attention'),
        'MHSA-relative': (lambda: MultiHeadSelfAttention2d(16, num_heads=2, max_size=40,
                                                           pos_encoding='relative',
                                                           block_size=100),
                          'multi_head_attention'),
        'MHSA-none': (lambda: MultiHeadSelfAttention2d(16, num_heads=2, pos_encoding=None,
                                                       block_size=100),
                      'multi_head_attention'),
    }


LAYER_CASES = ['PAM', 'NL-embedded-scale', 'NL-embedded-noscale', 'NL-gaussian',
               'NL-dot-product', 'NL-subsample', 'MHSA-absolute', 'MHSA-relative', 'MHSA-none']


@pytest.mark.parametrize('case', LAYER_CASES)
def test_layer_forward_and_gradients_equal_the_naive_formula(case, monkeypatch):
    """Each layer at 23x31 (N = 713, 8 query blocks of 100 rows) through backend='auto' in
    training, against the same layer with the dense float64 formula: output, input
    gradient and every parameter gradient."""
    from attnplug.testing import randomise
    make, module_name = _layer_cases()[case]
    layer = randomise(make(), seed=3)
    x = torch.randn(2, 16, 23, 31, generator=torch.Generator().manual_seed(1))
    w = torch.randn(2, 16, 23, 31, generator=torch.Generator().manual_seed(2))

    def run(m):
        xi = x.clone().requires_grad_()
        out = m(xi)
        (out * w).sum().backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        m.zero_grad()
        return out.detach(), xi.grad, grads

    applied = []
    real = FlashAttentionFunction.apply
    monkeypatch.setattr(FlashAttentionFunction, 'apply',
                        lambda *a: applied.append(1) or real(*a))
    out, gx, grads = run(layer)
    if case != 'NL-dot-product':  # the dot-product mode without bias is reassociated (O(N))
        assert applied, f'{case}: the autograd function was not used in training'
    module = importlib.import_module(f'attnplug.layers.{module_name}')
    monkeypatch.setattr(module, 'attention', _naive_attention)
    ref_out, ref_gx, ref_grads = run(layer)
    torch.testing.assert_close(out, ref_out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gx, ref_gx, atol=1e-4, rtol=1e-3)
    assert grads.keys() == ref_grads.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-4, rtol=1e-3,
                                   msg=lambda m, name=name: f'{case} {name}: {m}')


@pytest.mark.parametrize('cols', [None, 5])
def test_no_subnormal_probabilities_with_unscaled_energies(cols, monkeypatch):
    """PAM's unscaled energies put most of a row far below its maximum: exp there would be
    subnormal (slow on x86). The floor keeps every exp normal or exactly 1e-38-sized, and
    the output and gradients still equal the plain formula's."""
    q, k, v = _leaves((2, 1, 33, 8), (2, 1, 29, 8), (2, 1, 29, 6), dtype=torch.float32)
    with torch.no_grad():
        q.mul_(12.0)  # logits spanning thousands
    seen, exp_ = [], flash._exp_

    def spy(t):
        out = exp_(t)
        seen.append(int(((out != 0) & (out < torch.finfo(torch.float32).tiny)).sum()))
        return out
    monkeypatch.setattr(flash, '_exp_', spy)
    out = blocked_attention(q, k, v, 1.0, 'softmax', rows=7, cols=cols)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref = naive(q.double(), k.double(), v.double(), 1.0)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g.double())
    assert seen and not any(seen), seen
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a.double(), b.double(), rtol=1e-4, atol=1e-3)
    # without the floor the same logits do give subnormal values
    s = torch.matmul(q, k.transpose(-2, -1)).detach()
    shifted = s - s.amax(-1, keepdim=True)
    plain = shifted.exp()
    assert int(((plain != 0) & (plain < torch.finfo(torch.float32).tiny)).sum()) > 0


def test_blocks_share_one_score_buffer():
    """The blocks of a call write their scores into one reused tensor (a fresh tens-of-MiB
    allocation per block costs page faults); a shorter last block does not replace it, and
    with grad enabled (double backward) nothing is written through out=."""
    buf = flash._BlockBuffer()
    a, b = torch.randn(2, 3, 5, 4), torch.randn(2, 1, 4, 7)
    with torch.no_grad():
        first = buf.matmul(a, b)
        torch.testing.assert_close(first, a @ b)
        ptr = first.data_ptr()
        again = buf.matmul(a + 1, b)
        assert again.data_ptr() == ptr
        torch.testing.assert_close(again, (a + 1) @ b)
        last = buf.matmul(a[:, :, :2], b)
        assert last.shape == (2, 3, 2, 7) and buf.t.data_ptr() == ptr
        torch.testing.assert_close(last, a[:, :, :2] @ b)
        narrow = buf.matmul(a, b[..., :3])  # a last key tile: fewer columns, same storage
        assert narrow.is_contiguous() and narrow.data_ptr() == ptr
        torch.testing.assert_close(narrow, a @ b[..., :3])
        assert buf.matmul(a, b).data_ptr() == ptr  # the full tile again: no new allocation
    a.requires_grad_()
    with torch.enable_grad():
        fresh = buf.matmul(a, b)
    assert fresh.requires_grad and fresh.data_ptr() != ptr
