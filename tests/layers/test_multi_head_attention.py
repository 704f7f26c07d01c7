"""Tests of attnplug.layers.multi_head_attention (MultiHeadSelfAttention2d)."""
import pytest
import torch

from attnplug.layers import MultiHeadSelfAttention2d
from attnplug.layers.multi_head_attention import sinusoidal_position_2d
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_no_quadratic_tensor, assert_onnx_parity,
                              assert_shape_preserved, perturb)


C = 32


def naive_mhsa(m, x):
    """The full N×N multi-head attention, relative logits from an explicit (N, N, d) table."""
    b, c, h, w = x.shape
    nh, d = m.num_heads, m.head_channels
    wq, wk, wv = m.qkv.weight.double().squeeze(-1).squeeze(-1).chunk(3, 0)
    bq, bk, bv = m.qkv.bias.double().chunk(3, 0)
    xf = x.double().flatten(2).transpose(1, 2)  # (B, N, C)
    xqk = xf
    if m.pos_encoding == 'absolute':
        xqk = xf + sinusoidal_position_2d(h, w, c).double().flatten(1).t()

    def heads(t):
        return t.reshape(b, -1, nh, d).transpose(1, 2)  # (B, nh, N, d)

    q, k, v = heads(xqk @ wq.t() + bq), heads(xqk @ wk.t() + bk), heads(xf @ wv.t() + bv)
    q = q * d**-0.5
    logits = q @ k.transpose(-2, -1)
    if m.pos_encoding == 'relative':
        ys, xs = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
        dy = ys[None, :] - ys[:, None] + m.max_size - 1  # key row minus query row
        dx = xs[None, :] - xs[:, None] + m.max_size - 1
        table = m.rel_height.double()[dy] + m.rel_width.double()[dx]  # (N, N, d)
        logits = logits + torch.einsum('bhid,ijd->bhij', q, table)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, h * w, -1)
    out = out.transpose(1, 2).reshape(b, -1, h, w).float()
    return x + m.out_proj(out)


@pytest.mark.parametrize('pos', ['absolute', 'relative', None])
@pytest.mark.parametrize('size', [(11, 13), (1, 5), (7, 7)])
def test_equals_naive_formula(pos, size):
    m = perturb(MultiHeadSelfAttention2d(in_channels=C, num_heads=4, pos_encoding=pos,
                                          max_size=16)).eval()
    x = torch.randn(2, C, *size)
    with torch.no_grad():
        expected = naive_mhsa(m, x)
        assert (expected - x).abs().max() > 1e-2
        torch.testing.assert_close(m(x), expected, atol=1e-4, rtol=0)
        m.block_size = 10  # query-chunked path (relative logits built per block)
        torch.testing.assert_close(m(x), expected, atol=1e-4, rtol=0)


def test_relative_logits_are_built_per_block():
    """With a small budget no bias block spans all N query rows."""
    m = perturb(MultiHeadSelfAttention2d(C, num_heads=2, pos_encoding='relative',
                                          max_size=32, memory_budget=4 * 2 * 2 * 600 * 64))
    x = torch.randn(2, C, 20, 30)  # N = 600: 64-row blocks
    shapes = []
    real = m._relative_logits

    def spy(q, h, w):
        fn = real(q, h, w)

        def wrapped(start, stop):
            out = fn(start, stop)
            shapes.append(tuple(out.shape))
            return out
        return wrapped

    m._relative_logits = spy
    with torch.no_grad():
        m(x)
    assert shapes[0] == (2, 2, 64, 600) and len(shapes) == 10 and shapes[-1][2] == 600 - 9 * 64


def test_sinusoidal_encoding_is_size_independent():
    big = sinusoidal_position_2d(9, 12, 20)
    small = sinusoidal_position_2d(4, 5, 20)
    assert big.shape == (20, 9, 12)
    torch.testing.assert_close(big[:, :4, :5], small)  # no interpolation: a pixel is a pixel
    assert (big[0:5, 0] == 0).all() and (big[5:10, 0] == 1).all()  # sin(0), cos(0) of rows
    odd = sinusoidal_position_2d(3, 3, 7)
    assert odd.shape == (7, 3, 3) and torch.isfinite(odd).all()


@pytest.mark.parametrize('pos', ['absolute', 'relative'])
def test_contract(pos):
    m = perturb(MultiHeadSelfAttention2d(C, num_heads=4, pos_encoding=pos, max_size=32))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    assert_identity_at_init(m, C)  # init_weights() restores the identity from random weights


@pytest.mark.parametrize('pos,block_size', [('absolute', None), ('relative', 100)])
def test_onnx_parity(pos, block_size):
    pytest.importorskip('onnxruntime')
    m = perturb(MultiHeadSelfAttention2d(C, num_heads=4, pos_encoding=pos, max_size=32,
                                          block_size=block_size))
    assert_onnx_parity(m.eval(), C)


@pytest.mark.parametrize('pos', ['absolute', 'relative'])
def test_gradients_equal_naive_formula(pos):
    """Backward through the fused / block-recomputed path equals the plain N×N autograd."""
    torch.manual_seed(0)
    m = perturb(MultiHeadSelfAttention2d(C, num_heads=4, pos_encoding=pos, max_size=16,
                                          block_size=25))
    x = torch.randn(2, C, 9, 11, requires_grad=True)
    wgt = torch.randn(2, C, 9, 11)
    (m(x) * wgt).sum().backward()
    got = {n: p.grad.clone() for n, p in m.named_parameters()}
    got_x = x.grad.clone()
    m.zero_grad()
    x.grad = None
    (naive_mhsa(m, x) * wgt).sum().backward()
    # gradients reach ~1e2 (sums over 2·99 positions): compare relative to their scale
    for n, p in m.named_parameters():
        assert (got[n] - p.grad).abs().max() <= 2e-5 * p.grad.abs().max() + 1e-6, n
    assert (got_x - x.grad).abs().max() <= 2e-5 * x.grad.abs().max()


def test_relative_max_size():
    m = MultiHeadSelfAttention2d(C, pos_encoding='relative', max_size=8)
    assert m.rel_height.shape == (15, 4)
    m(torch.randn(1, C, 8, 8))
    with pytest.raises(ValueError, match='max_size=8'):
        m(torch.randn(1, C, 9, 4))


def test_heads_and_build_plugin_layer():
    from mmcv.cnn import build_plugin_layer
    name, m = build_plugin_layer(dict(type='attnplug.MultiHeadSelfAttention2d', num_heads=4,
                                      pos_encoding='relative', max_size=64), in_channels=64)
    assert name == 'mhsa' and isinstance(m, MultiHeadSelfAttention2d)
    assert m.num_heads == 4 and m.head_channels == 16
    assert MultiHeadSelfAttention2d(4).num_heads == 4  # fewer channels than heads
    assert MultiHeadSelfAttention2d(12, num_heads=5, head_channels=8).qkv.out_channels == 120
    with pytest.raises(ValueError, match='divisible'):
        MultiHeadSelfAttention2d(12, num_heads=5)
    with pytest.raises(ValueError, match='pos_encoding'):
        MultiHeadSelfAttention2d(12, pos_encoding='learned')


@pytest.mark.parametrize('pos', ['relative'])  # the default, 'absolute': test_convention.py
def test_gradient_reaches_every_weight_after_a_step(pos):
    torch.manual_seed(0)
    m = MultiHeadSelfAttention2d(C, num_heads=4, pos_encoding=pos, max_size=16)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    x, target = torch.randn(2, C, 9, 11), torch.randn(2, C, 9, 11)
    grads = []
    for _ in range(2):
        opt.zero_grad()
        (m(x) - target).square().mean().backward()
        grads.append({n: p.grad.abs().max().item() for n, p in m.named_parameters()})
        opt.step()
    assert grads[0]['out_proj.weight'] > 0
    assert all(v > 0 for v in grads[1].values()), grads[1]


@pytest.mark.parametrize('pos', ['absolute', 'relative', None])
def test_never_builds_n_by_n(pos):
    """At 40×40 (N = 1600) no op output, forward or backward, has N² elements: the fused SDPA
    kernel (absolute / none) or 200-row blocks of relative logits."""
    m = MultiHeadSelfAttention2d(C, num_heads=4, pos_encoding=pos, max_size=40, block_size=200)
    assert_no_quadratic_tensor(perturb(m), C, size=(40, 40))
