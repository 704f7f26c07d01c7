"""Tests of attnplug.functional.bounded_attention: every backend equals the plain formula."""
import importlib
import math

import pytest
import torch

from attnplug.functional import (RelativeBias2d, attention, attention_probs, choose_backend,
                                 chunk_rows, sdpa_fused_accepts, select_backend)


# the package re-exports the function ``attention`` under the submodule's name
attn_mod = importlib.import_module('attnplug.functional.bounded_attention')


def naive(q, k, v, scale, mode='softmax', bias=None):
    """softmax(q kᵀ·scale + bias) v, or (q kᵀ·scale + bias)/Nk v, in float64."""
    q, k, v = q.double(), k.double(), v.double()
    if q.dim() == 4 and k.dim() == 3:
        k, v = k.unsqueeze(1), v.unsqueeze(1)
    s = q @ k.transpose(-2, -1) * scale
    if bias is not None:
        s = s + bias.double()
    p = s.softmax(-1) if mode == 'softmax' else s / k.shape[-2]
    return p @ v


def _qkv(nq, nk, dk, dv, heads=None, kv_heads=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    qs = (2, heads, nq, dk) if heads else (2, nq, dk)
    ks = (2, heads, nk, dk) if (heads and kv_heads) else (2, nk, dk)
    vs = ks[:-1] + (dv, )
    return (torch.randn(*qs, generator=g), torch.randn(*ks, generator=g),
            torch.randn(*vs, generator=g))


SIZES = [(37, 41), (64, 64), (100, 77)]
LAYOUTS = [dict(), dict(heads=3), dict(heads=3, kv_heads=True)]


@pytest.mark.parametrize('nq,nk', SIZES)
@pytest.mark.parametrize('layout', LAYOUTS, ids=['3d', 'heads-shared-kv', 'heads'])
@pytest.mark.parametrize('dv', [8, 24])
@pytest.mark.parametrize('mode', ['softmax', 'dot_product'])
def test_every_backend_equals_naive(nq, nk, layout, dv, mode):
    q, k, v = _qkv(nq, nk, 8, dv, **layout)
    scale = 0.3
    expected = naive(q, k, v, scale, mode)
    backends = ['auto', 'naive', 'chunked', 'blocked']
    backends += ['linear'] if mode == 'dot_product' else (['sdpa', 'chunked_sdpa']
                                                          if dv == 8 else [])
    for backend in backends:
        # 7 divides none of the sizes; 1-row blocks once, on the matmul path
        for block in (None, 7, 1) if backend in ('chunked', 'blocked') else (None, 7):
            out = attention(q, k, v, scale=scale, mode=mode, backend=backend, block_size=block)
            assert out.shape == expected.shape and out.dtype == torch.float32
            torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=0,
                                       msg=lambda m: f'{backend}/{block}: {m}')


def test_default_scale():
    q, k, v = _qkv(20, 30, 16, 16)
    torch.testing.assert_close(attention(q, k, v).double(), naive(q, k, v, 16**-0.5),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(attention(q, k, v, mode='dot_product').double(),
                               naive(q, k, v, 1.0, 'dot_product'), atol=1e-5, rtol=0)


@pytest.mark.parametrize('dv', [8, 12])
def test_tensor_and_callable_bias(dv):
    q, k, v = _qkv(45, 45, 8, dv, heads=2, kv_heads=True)
    bias = torch.randn(2, 2, 45, 45)
    expected = naive(q, k, v, 0.5, bias=bias)
    calls = []

    def bias_fn(start, stop):
        calls.append((start, stop))
        return bias[:, :, start:stop]

    for backend in ('auto', 'chunked', 'blocked', 'naive') + (('sdpa', ) if dv == 8 else ()):
        out = attention(q, k, v, scale=0.5, bias=bias, backend=backend, block_size=10)
        torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=0)
    for backend in ('auto', 'chunked') + (('chunked_sdpa', ) if dv == 8 else ()):
        calls.clear()
        out = attention(q, k, v, scale=0.5, bias=bias_fn, block_size=10, backend=backend)
        torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=0)
        assert calls == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 45)]
    # a bias that broadcasts over the query rows, in dot-product mode
    row_bias = torch.randn(2, 1, 1, 45)
    out = attention(q, k, v, scale=0.5, mode='dot_product', bias=row_bias, block_size=10)
    torch.testing.assert_close(out.double(), naive(q, k, v, 0.5, 'dot_product', row_bias),
                               atol=1e-4, rtol=0)


def test_dispatch_rule():
    q, k, v = _qkv(64, 64, 8, 8)
    _, _, v_wide = _qkv(64, 64, 8, 32)
    assert select_backend(q, k, v) == 'sdpa'
    assert select_backend(q, k, v_wide) == 'blocked'
    assert select_backend(q, k, v, mode='dot_product') == 'linear'
    assert select_backend(q, k, v, mode='dot_product', bias=torch.zeros(64, 64)) == 'blocked'
    assert select_backend(q, k, v, bias=lambda a, b: None) == 'chunked_sdpa'
    assert select_backend(q, k, v_wide, bias=lambda a, b: None) == 'chunked'
    assert select_backend(q, k, v, bias=torch.zeros(64, 64)) == 'sdpa'
    assert select_backend(q, k, v, bias=torch.zeros(64, 64), memory_budget=1024) == 'blocked'
    rel = RelativeBias2d(torch.zeros(2, 1, 64, 15), torch.zeros(2, 1, 64, 15), 8, 8)
    assert select_backend(q, k, v, bias=rel) == 'blocked'
    # training: the autograd function (O(N) memory, FlashAttention-2 backward)
    assert select_backend(q.clone().requires_grad_(), k, v) == 'blocked'
    # 2 × 64 × 64 fp32 scores = 32 KiB: rows for an 8 KiB budget
    assert chunk_rows(2, 64, 8 * 1024) == 16
    assert chunk_rows(2, 64, 1) == 1


# (device, dtype, dk, dv, bias kind, grad) -> backend; PAM is dk=64/dv=512, NL dk=dv=256,
# MHSA dk=dv=64 with relative logits.
DISPATCH = [
    # CUDA: fused SDPA wherever a kernel takes the shapes (memory-efficient for dk != dv)
    ('cuda', torch.bfloat16, 64, 512, None, True, 'sdpa'),
    ('cuda', torch.float16, 64, 512, None, False, 'sdpa'),
    ('cuda', torch.float16, 256, 256, 'tensor', True, 'sdpa'),
    ('cuda', torch.float32, 64, 512, None, True, 'sdpa'),
    ('cuda', torch.bfloat16, 12, 512, None, True, 'blocked'),  # dk not a multiple of 8
    ('cuda', torch.bfloat16, 64, 64, 'relative', False, 'chunked_sdpa'),
    ('cuda', torch.bfloat16, 64, 64, 'relative', True, 'blocked'),
    ('cuda', torch.bfloat16, 64, 64, 'callable', True, 'chunked_sdpa'),
    # CPU: fused SDPA only for equal head sizes at inference; the autograd function otherwise
    ('cpu', torch.float32, 64, 512, None, False, 'blocked'),
    ('cpu', torch.float32, 64, 512, None, True, 'blocked'),
    ('cpu', torch.bfloat16, 64, 512, None, True, 'blocked'),
    ('cpu', torch.float16, 64, 512, None, False, 'blocked'),
    ('cpu', torch.float32, 256, 256, None, False, 'sdpa'),
    ('cpu', torch.bfloat16, 256, 256, None, False, 'sdpa'),
    ('cpu', torch.float32, 256, 256, None, True, 'blocked'),
    ('cpu', torch.float32, 64, 64, 'relative', True, 'blocked'),
    ('cpu', torch.float32, 64, 64, 'relative', False, 'blocked'),
    ('cpu', torch.float32, 64, 512, 'callable', False, 'chunked'),
    # another device: the autograd function (plain PyTorch ops)
    ('mps', torch.float16, 64, 64, None, True, 'blocked'),
]


@pytest.mark.parametrize('device,dtype,dk,dv,bias_kind,grad,expected', DISPATCH)
def test_backend_choice_per_device_and_dtype(device, dtype, dk, dv, bias_kind, grad, expected):
    """The dispatch decision is a pure function of device type, dtype and shapes, checked
    here for CUDA without a GPU."""
    assert choose_backend(device, dtype, 'softmax', bias_kind, dk, dv,
                          needs_grad=grad) == expected


def test_backend_choice_dot_product_and_tracing():
    for device in ('cpu', 'cuda'):
        assert choose_backend(device, torch.float32, 'dot_product', None, 64, 64) == 'linear'
        assert choose_backend(device, torch.float32, 'dot_product', 'tensor', 64, 64,
                              needs_grad=True) == 'blocked'
        # compile / export keep the graphs the deploy tests check (ONNX Scan)
        assert choose_backend(device, torch.float32, 'softmax', None, 64, 512, needs_grad=True,
                              tracing=True) == 'chunked'
        assert choose_backend(device, torch.float32, 'softmax', None, 64, 64,
                              tracing=True) == 'sdpa'
        assert choose_backend(device, torch.float32, 'dot_product', 'tensor', 64, 64,
                              tracing=True) == 'chunked'


def test_fused_kernel_constraints():
    """torch's sdp_utils filters: CUDA's memory-efficient kernel takes dk != dv (multiples of
    8, additive mask allowed); CPU's fused kernel needs dk == dv."""
    assert sdpa_fused_accepts('cuda', torch.bfloat16, 64, 512, None)
    assert sdpa_fused_accepts('cuda', torch.float16, 64, 512, 'tensor')
    assert not sdpa_fused_accepts('cuda', torch.float16, 64, 500, None)
    assert not sdpa_fused_accepts('cuda', torch.float16, 64, 64, 'relative')
    assert not sdpa_fused_accepts('cuda', torch.float64, 64, 64, None)
    assert sdpa_fused_accepts('cpu', torch.float32, 64, 64, None)
    assert not sdpa_fused_accepts('cpu', torch.float32, 64, 512, None)


def test_chunked_path_is_taken_and_exact(monkeypatch):
    """With a budget smaller than one N×N matrix, no block holds all query rows."""
    n, b = 300, 2
    q, k, v = _qkv(n, n, 8, 24)
    seen = []
    real_block = attn_mod._block

    def spy(qb, *args):
        seen.append(qb.shape[-2])
        return real_block(qb, *args)

    monkeypatch.setattr(attn_mod, '_block', spy)
    budget = 4 * b * n * 64  # 64 query rows of fp32 scores
    out = attention(q, k, v, scale=0.2, memory_budget=budget, backend='chunked')
    assert seen == [64, 64, 64, 64, 44]
    torch.testing.assert_close(out.double(), naive(q, k, v, 0.2), atol=1e-4, rtol=0)
    seen.clear()
    attention(q, k, v, scale=0.2, backend='chunked')  # default budget: one block is all
    assert seen == [n]


@pytest.mark.parametrize('mode', ['softmax', 'dot_product'])
def test_gradients_with_block_recomputation(monkeypatch, mode):
    torch.manual_seed(0)
    q, k, v = _qkv(50, 50, 8, 16, heads=2)
    w = torch.randn(2, 2, 50, 16)
    scale_bias = torch.tensor(0.7, requires_grad=True)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ckpt_calls = []
    real_ckpt = attn_mod.checkpoint

    def counting_ckpt(*args, **kwargs):
        ckpt_calls.append(1)
        return real_ckpt(*args, **kwargs)

    monkeypatch.setattr(attn_mod, 'checkpoint', counting_ckpt)
    bias = torch.randn(50, 50)
    out = attention(*leaves, scale=0.4, mode=mode, block_size=16,
                    bias=lambda s, e: bias[s:e] * scale_bias)
    (out * w).sum().backward()
    assert len(ckpt_calls) == 4  # 16 + 16 + 16 + 2 rows, each recomputed in the backward

    ref_leaves = [t.clone().double().requires_grad_() for t in (q, k, v)]
    ref_scale = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ref = naive(*ref_leaves, 0.4, mode, bias.double() * ref_scale)
    (ref * w.double()).sum().backward()
    for got, exp in zip(leaves + [scale_bias], ref_leaves + [ref_scale]):
        torch.testing.assert_close(got.grad.double(), exp.grad, atol=1e-4, rtol=1e-4)

    ckpt_calls.clear()
    attention(*leaves, scale=0.4, block_size=16, checkpoint_blocks=False).sum().backward()
    with torch.no_grad():
        attention(*leaves, scale=0.4, block_size=16)
    assert not ckpt_calls


def test_sdpa_gradients():
    leaves = [t.requires_grad_() for t in _qkv(40, 40, 8, 8, heads=2, kv_heads=True)]
    attention(*leaves, backend='sdpa').square().sum().backward()
    ref = [t.detach().double().requires_grad_() for t in leaves]
    naive(*ref, 8**-0.5).square().sum().backward()
    for got, exp in zip(leaves, ref):
        torch.testing.assert_close(got.grad.double(), exp.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('dv', [8, 24])
def test_autocast(dtype, dv):
    q, k, v = _qkv(33, 33, 8, dv)
    for backend in ('auto', 'chunked', 'naive'):
        with torch.autocast('cpu', dtype=dtype):
            out = attention(q, k, v, backend=backend, block_size=8)
        assert out.dtype == dtype
        torch.testing.assert_close(out.double(), naive(q, k, v, 8**-0.5), atol=0.05, rtol=0)
    with torch.autocast('cpu', dtype=dtype):
        lin = attention(q, k, v, mode='dot_product')
    torch.testing.assert_close(lin.double(), naive(q, k, v, 1.0, 'dot_product'), atol=0.05,
                               rtol=0)
    bias = torch.randn(33, 33)
    with torch.autocast('cpu', dtype=dtype):  # per-block logits (SDPA blocks when dk == dv)
        out = attention(q, k, v, bias=lambda s, e: bias[s:e], block_size=8)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), naive(q, k, v, 8**-0.5, bias=bias), atol=0.05,
                               rtol=0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('dv', [8, 24])
def test_autocast_unscaled_large_energies_stay_finite(dtype, dv):
    """Unscaled energies of ~1e5 overflow fp16: the scores are formed in fp32 there."""
    q, k, v = _qkv(33, 33, 8, dv)
    q, k = q * 120, k * 120
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    for backend in ('chunked', 'naive'):
        with torch.autocast('cpu', dtype=dtype):
            out = attention(*leaves, scale=1.0, backend=backend, block_size=8)
        assert torch.isfinite(out.float()).all()
        out.float().sum().backward()
        assert all(torch.isfinite(t.grad).all() for t in leaves)
        if dtype == torch.float16:  # fp32 scores: near the exact (nearly one-hot) result
            assert (out.double() - naive(q, k, v, 1.0)).abs().max() < 0.05
    with torch.autocast('cpu', dtype=dtype):
        lin = attention(q, k, v, mode='dot_product')
    assert torch.isfinite(lin.float()).all()


def test_half_inputs_without_autocast():
    q, k, v = (t.half() for t in _qkv(20, 20, 8, 8))
    out = attention(q, k, v, scale=1.0, backend='chunked')
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.double(), naive(q, k, v, 1.0), atol=2e-2, rtol=0)


def test_deterministic():
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        q, k, v = _qkv(70, 70, 8, 16)
        a = attention(q, k, v, block_size=9)
        b = attention(q, k, v, block_size=9)
        assert torch.equal(a, b)
    finally:
        torch.use_deterministic_algorithms(prev)


def test_attention_probs_is_one_row_of_the_map():
    q, k, _ = _qkv(30, 30, 8, 8)
    p = attention_probs(q[:, 5:6], k, scale=1.0)
    full = (q.double() @ k.double().transpose(1, 2)).softmax(-1)
    assert p.shape == (2, 1, 30)
    torch.testing.assert_close(p.double(), full[:, 5:6], atol=1e-6, rtol=0)
    torch.testing.assert_close(p.sum(-1), torch.ones(2, 1))


def test_errors():
    q, k, v = _qkv(10, 10, 8, 8)
    with pytest.raises(ValueError, match='mode'):
        attention(q, k, v, mode='gaussian')
    with pytest.raises(ValueError, match='backend'):
        attention(q, k, v, backend='flash')
    with pytest.raises(ValueError, match='do not match'):
        attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match='linear'):
        attention(q, k, v, backend='linear')
    with pytest.raises(ValueError, match='sdpa'):
        attention(q, k, v, backend='sdpa', bias=lambda s, e: None)
    with pytest.raises(ValueError, match='chunked_sdpa'):
        attention(q, k, v, backend='chunked_sdpa', mode='dot_product')
    with pytest.raises(ValueError, match='blocked'):
        attention(q, k, v, backend='blocked', bias=lambda s, e: None)
    with pytest.raises(ValueError, match=r'\(B, N, d\)'):
        attention(q[0, 0], k, v)


def test_onnx_export_of_chunked_attention():
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    from attnplug.testing import assert_onnx_parity

    class Wrap(torch.nn.Module):
        in_channels = 12

        def forward(self, x):  # (1, 12, H, W) -> split into q (4), k (4), v (4)
            b, c, h, w = x.shape
            t = x.flatten(2).transpose(1, 2)
            q, k, v = t[..., :4], t[..., 4:8], t[..., 8:]
            out = attention(q, k, torch.cat([v, v], -1), scale=1.0, block_size=50)
            return out.transpose(1, 2).reshape(b, 8, h, w)

    assert_onnx_parity(Wrap(), 12, size=(9, 13))


def test_large_map_in_blocks_matches_naive():
    """N = 4096 with a 4 MiB budget: 256-row blocks, equal to the full formula."""
    q, k, v = _qkv(4096, 4096, 16, 48, seed=3)
    q, k, v = q[:1], k[:1], v[:1]
    out = attention(q, k, v, scale=1 / math.sqrt(16), memory_budget=4 * 2**20)
    torch.testing.assert_close(out.double(), naive(q, k, v, 0.25), atol=1e-4, rtol=0)


@pytest.mark.parametrize('dv', [16, 48])
def test_transposed_views_keep_the_fused_kernel(dv):
    """(B, C, N) -> (B, N, C) views, as the layers make them, must not push SDPA onto its
    N×N math path (it needs unit stride in the head dimension)."""
    from attnplug.testing import assert_no_quadratic_tensor

    class Wrap(torch.nn.Module):

        def forward(self, x):
            t = x.flatten(2).transpose(1, 2)  # (B, N, 64), last-dim stride N
            return attention(t[..., :16], t[..., 16:32], t[..., -dv:], block_size=200)

    assert_no_quadratic_tensor(Wrap(), 64, size=(40, 40))


def test_key_tiles_at_cpu_inference_only():
    """'blocked' tiles the keys (an online softmax over BLOCKED_KEY_TILE keys, rows of a
    BLOCKED_TILE_BYTES tile) only at inference on a CPU with two tiles or more."""
    tile = attn_mod.BLOCKED_KEY_TILE
    assert attn_mod.blocked_cols(1, 2 * tile) == tile
    assert attn_mod.blocked_cols(1, 2 * tile - 1) is None  # one tile: one pass over all keys
    assert attn_mod.blocked_cols(1, 16 * tile, training=True) is None
    assert attn_mod.blocked_cols(1, 16 * tile, device='cuda') is None
    tile_rows = attn_mod.BLOCKED_TILE_BYTES // (4 * 3 * tile)
    assert attn_mod.blocked_rows(3, 16 * tile, training=False, key_tile=tile) == tile_rows
    # a small budget still bounds a tile; block_size still wins
    assert attn_mod.blocked_rows(3, 16 * tile, 4 * 3 * tile * 5, training=False,
                                 key_tile=tile) == 5
    assert attn_mod.blocked_rows(3, 16 * tile, block_size=7, training=False, key_tile=tile) == 7
    # without tiles: the budget's rows at inference, BLOCKED_BLOCK_BYTES' in training
    assert attn_mod.blocked_rows(1, 8192, training=False) == attn_mod.DEFAULT_MEMORY_BUDGET // (
        4 * 8192)
    assert attn_mod.blocked_rows(1, 8192) == attn_mod.BLOCKED_BLOCK_BYTES // (4 * 8192)


@pytest.mark.parametrize('masked', [False, True], ids=['plain', 'masked-first-tile'])
def test_key_tiled_inference_is_exact(monkeypatch, masked):
    """attention() at inference with key tiles that divide neither size (monkeypatched to 5
    keys, tiles of 3 rows): equal to the plain formula, also where a row's first tiles are
    all -inf (its running maximum starts at -inf) and with PAM-like logits spanning
    hundreds, which rescale the accumulator on most tiles."""
    monkeypatch.setattr(attn_mod, 'BLOCKED_KEY_TILE', 5)
    monkeypatch.setattr(attn_mod, 'BLOCKED_TILE_BYTES', 4 * 2 * 5 * 3)
    calls = []
    real = attn_mod.blocked_attention

    def spy(*args, **kwargs):
        calls.append((kwargs['rows'], kwargs['cols']))
        return real(*args, **kwargs)
    monkeypatch.setattr(attn_mod, 'blocked_attention', spy)
    q, k, v = _qkv(23, 17, 8, 24)
    q = q * 20.0
    bias = None
    if masked:
        bias = torch.zeros(2, 23, 17)
        bias[:, :8, :12] = float('-inf')  # rows 0-7: the first two tiles and part of the 3rd
        bias[:, 8, 7] = 1e3  # row 8 (a block with rows 6, 7) grows in the 2nd tile
        bias[:, 20, 3:] = float('-inf')  # row 20: only its first tile counts
    with torch.no_grad():
        out = attention(q, k, v, scale=1.0, bias=bias)
    assert calls == [(3, 5)]
    ref = naive(q, k, v, 1.0, bias=bias)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, atol=1e-4, rtol=1e-5)
    # training takes one pass over all keys
    calls.clear()
    attention(q.requires_grad_(), k, v, scale=1.0, bias=bias).sum().backward()
    assert calls[0][1] is None
