"""Tests of attnplug.functional.criss_cross against a dense masked-attention formula."""
import pytest
import torch

from attnplug.functional import criss_cross_attention, criss_cross_energies


SIZES = [(23, 31), (7, 7), (1, 5), (5, 1), (1, 1), (6, 9)]


def dense_reference(query, key, value):
    """Softmax over the set {same row} ∪ {same column} of every pixel (so each pixel
    counts itself once), written as masked N×N attention in float64."""
    b, c, h, w = value.shape
    q = query.double().flatten(2).transpose(1, 2)  # (B, N, C')
    k = key.double().flatten(2)  # (B, C', N)
    v = value.double().flatten(2).transpose(1, 2)  # (B, N, C)
    ys = torch.arange(h).repeat_interleave(w)
    xs = torch.arange(w).repeat(h)
    allowed = (ys[:, None] == ys[None, :]) | (xs[:, None] == xs[None, :])
    s = (q @ k).masked_fill(~allowed, float('-inf'))
    out = s.softmax(-1) @ v
    return out.transpose(1, 2).reshape(b, c, h, w)


def _inputs(h, w, cq=4, c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, cq, h, w, generator=g), torch.randn(2, cq, h, w, generator=g),
            torch.randn(2, c, h, w, generator=g))


@pytest.mark.parametrize('h,w', SIZES)
def test_equals_dense_masked_attention(h, w):
    q, k, v = _inputs(h, w)
    out = criss_cross_attention(q, k, v)
    assert out.shape == v.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), dense_reference(q, k, v), atol=1e-5, rtol=0)


def test_energies_layout_and_self_mask():
    q, k, _ = _inputs(4, 5)
    e = criss_cross_energies(q, k)
    assert e.shape == (2, 4, 5, 4 + 5)  # O(N·(H+W)), never N×N
    h, w, i, j = 2, 3, 1, 4
    assert torch.isneginf(e[:, h, w, h]).all()  # self position is only in the row part
    torch.testing.assert_close(e[:, h, w, i], (q[:, :, h, w] * k[:, :, i, w]).sum(1))
    torch.testing.assert_close(e[:, h, w, 4 + j], (q[:, :, h, w] * k[:, :, h, j]).sum(1))


def test_gradients_match_dense():
    leaves = [t.requires_grad_() for t in _inputs(5, 6)]
    wgt = torch.randn(2, 6, 5, 6)
    (criss_cross_attention(*leaves) * wgt).sum().backward()
    ref = [t.detach().double().requires_grad_() for t in leaves]
    (dense_reference(*ref) * wgt.double()).sum().backward()
    for got, exp in zip(leaves, ref):
        torch.testing.assert_close(got.grad.double(), exp.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_large_energies_finite(dtype):
    q, k, v = _inputs(9, 11)
    leaves = [t.requires_grad_() for t in (q * 150, k * 150, v)]  # energies ~1e5 > fp16 max
    with torch.autocast('cpu', dtype=dtype):
        out = criss_cross_attention(*leaves)
    assert torch.isfinite(out.float()).all()
    out.float().sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in leaves if t.grad is not None)


def test_shape_errors():
    q, k, v = _inputs(4, 5)
    with pytest.raises(ValueError, match='query and key'):
        criss_cross_attention(q, k[:, :2], v)
    with pytest.raises(ValueError, match='does not match'):
        criss_cross_attention(q, k, v[:, :, :3])


def test_onnx_export_dynamo():
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    from attnplug.testing import assert_onnx_parity

    class Wrap(torch.nn.Module):

        def forward(self, x):
            return criss_cross_attention(x[:, :2], x[:, 2:4], x)

    assert_onnx_parity(Wrap(), 6, size=(23, 31))
