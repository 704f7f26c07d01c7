"""The bounded attention on a CUDA device: what ``backend='auto'`` picks there, and that every
path it can pick (fused SDPA with different query and value head sizes, the FlashAttention-2
function, the query-blocked SDPA with relative logits) gives the float64 CPU formula's output
and gradients. Skipped without a GPU: run on one with

    python -m pytest tests/functional/test_attention_cuda.py -q
"""
import pytest
import torch

from attnplug.functional.bounded_attention import attention, select_backend
from attnplug.functional.flash_attention import RelativeBias2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')

#: max |error| / max |reference| allowed per compute dtype (outputs and gradients)
TOL = {torch.float32: 2e-3, torch.bfloat16: 3e-2, torch.float16: 5e-3}


def _reference(q, k, v, scale, mode='softmax', bias=None):
    q, k, v = (t.detach().double().cpu().requires_grad_() for t in (q, k, v))
    s = q @ k.transpose(-2, -1) * scale
    if bias is not None:
        s = s + bias.double().cpu()
    p = s.softmax(-1) if mode == 'softmax' else s / k.shape[-2]
    out = p @ v
    return out, (q, k, v)


def _rel(a, b):
    return float((a.double().cpu() - b.detach()).abs().max() / b.detach().abs().max())


def _leaves(b, h, n, dk, dv, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, d, generator=g).to('cuda', dtype).requires_grad_()
            for d in (dk, dk, dv)]


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize('dk,dv,n', [(64, 512, 1000), (8, 64, 777), (32, 32, 257)])
def test_auto_on_cuda_matches_the_formula(dtype, dk, dv, n):
    """PAM's shape (dk 64, dv 512), a non-local's and equal sizes, at odd N."""
    q, k, v = _leaves(2, 1, n, dk, dv, dtype)
    picked = select_backend(q, k, v)
    if dtype != torch.float32:  # the fused kernels accept dk != dv (multiples of 8)
        assert picked == 'sdpa', picked
    out = attention(q, k, v)
    assert out.dtype == dtype and out.shape == (2, 1, n, dv)
    ref, leaves = _reference(q, k, v, dk**-0.5)
    g = torch.randn(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out.backward(g.to('cuda', dtype))
    ref.backward(g)
    assert _rel(out, ref) < TOL[dtype]
    for ours, theirs in zip((q, k, v), leaves):
        assert _rel(ours.grad, theirs.grad) < TOL[dtype]


@pytest.mark.parametrize('backend', ['blocked', 'chunked', 'chunked_sdpa', 'naive'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_every_backend_on_cuda(backend, dtype):
    q, k, v = _leaves(2, 2, 333, 16, 16, dtype, seed=2)
    out = attention(q, k, v, backend=backend, block_size=50)
    ref, leaves = _reference(q, k, v, 16**-0.5)
    out.float().square().sum().backward()
    (ref.square().sum()).backward()
    assert _rel(out, ref) < TOL[dtype]
    for ours, theirs in zip((q, k, v), leaves):
        assert _rel(ours.grad, theirs.grad) < TOL[dtype]


@pytest.mark.parametrize('grad', [False, True])
def test_relative_logits_on_cuda(grad):
    """MHSA's relative-position logits: chunked SDPA without grad, FlashAttention-2 with."""
    h, w, dk = 9, 13, 16
    n = h * w
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, n, dk, generator=g).cuda().requires_grad_(grad)
               for _ in range(3))
    rel_h = torch.randn(2, 4, n, 2 * h - 1, generator=g).cuda().requires_grad_(grad)
    rel_w = torch.randn(2, 4, n, 2 * w - 1, generator=g).cuda().requires_grad_(grad)
    bias = RelativeBias2d(rel_h, rel_w, h, w)
    picked = select_backend(q, k, v, bias=bias)
    assert picked == ('blocked' if grad else 'chunked_sdpa'), picked
    out = attention(q, k, v, bias=bias, block_size=40)
    full = bias(0, n)
    ref, leaves = _reference(q, k, v, dk**-0.5, bias=full.detach())
    assert _rel(out, ref) < TOL[torch.float32]
    if grad:
        out.sum().backward()
        ref.sum().backward()
        for ours, theirs in zip((q, k, v), leaves):
            assert _rel(ours.grad, theirs.grad) < TOL[torch.float32]


def test_dot_product_mode_on_cuda():
    q, k, v = _leaves(1, 1, 301, 8, 64, torch.float32, seed=4)
    bias = torch.randn(1, 1, 301, 301, device='cuda')
    out = attention(q, k, v, mode='dot_product', bias=bias)
    ref, _ = _reference(q, k, v, 1.0, mode='dot_product', bias=bias)
    assert _rel(out, ref) < TOL[torch.float32]


def test_modules_on_cuda_under_autocast():
    """PAM, non-local and MHSA forward + backward on CUDA in bf16 autocast: finite, and the
    output close to the same module's fp32 output."""
    from attnplug.layers import MultiHeadSelfAttention2d, NonLocal2d, PositionAttention
    from attnplug.testing import randomise
    for module in (PositionAttention(64, 8), NonLocal2d(64),
                   MultiHeadSelfAttention2d(64, num_heads=4)):
        module = randomise(module, 0).cuda()
        x = torch.randn(2, 64, 23, 29, device='cuda', requires_grad=True)
        ref = module(x).float()
        with torch.autocast('cuda', dtype=torch.bfloat16):
            out = module(x)
        out.float().square().mean().backward()
        assert torch.isfinite(x.grad).all(), type(module).__name__
        assert _rel(out.float(), ref.double().cpu()) < 5e-2, type(module).__name__
