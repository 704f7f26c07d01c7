"""Attention / gate maps through the layers' own ``attention_maps`` (attnplug.analysis.
attention_maps only finds layers, captures their inputs and calls it) and their overlays
(attnplug.visualization.overlay), checked against brute-force formulas and against each layer's
real forward (the output at a query pixel is rebuilt from its map)."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from attnplug.visualization.attention_maps import (AttentionRecorder, find_modules, grid_point,
                                              module_attention_maps, supported_types)
from attnplug.visualization.overlay import compose_grid, draw_query, normalize, overlay
from attnplug.functional.criss_cross import criss_cross_attention, criss_cross_energies
from attnplug.layers import (BAM, CBAM, SCSE, AttentionGate, ChannelAttention, CoordAttention,
                             CrissCrossAttention, GlobalContextBlock, MultiHeadSelfAttention2d,
                             NonLocal2d, PositionAttention, SqueezeExcitation)
from attnplug.layers.base import AttentionMap
from attnplug.testing import perturb

H, W = 7, 9  # odd, non-square


def _randomise(module, seed=0):
    """Non-trivial weights (the layers start as identities / zero gammas)."""
    return perturb(module, seed=seed, std=0.5).eval()


def _x(c=16, b=2, seed=1):
    return torch.randn(b, c, H, W, generator=torch.Generator().manual_seed(seed))


def test_grid_point():
    assert grid_point((0.5, 0.5), H, W) == (3, 4)
    assert grid_point((0.0, 0.0), H, W) == (0, 0)
    assert grid_point((1.0, 1.0), H, W) == (H - 1, W - 1)
    with pytest.raises(ValueError):
        grid_point((1.5, 0.2), H, W)


def test_cbam_gate_is_the_spatial_branch_output():
    m = _randomise(CBAM(16, reduction=4))
    seen = {}
    m.spatial_attention.register_forward_hook(lambda mod, i, o: seen.setdefault('ms', o))
    x = _x()
    with torch.no_grad():
        m(x)
    (amap, ) = module_attention_maps('cbam', m, (x, ), {})
    assert amap.query is None and amap.maps.shape == (2, H, W)
    torch.testing.assert_close(amap.maps, seen['ms'][:, 0])


def test_attention_gate_map_is_alpha():
    m = _randomise(AttentionGate(8, 12))
    x, g = _x(8), torch.randn(2, 12, 4, 5)
    with torch.no_grad():
        _, alpha = m(x, g, return_attention=True)
    (amap, ) = module_attention_maps('gate', m, (x, ), {'g': g})
    torch.testing.assert_close(amap.maps, alpha[:, 0])


@pytest.mark.parametrize('cls', [SCSE, BAM, CoordAttention, GlobalContextBlock])
def test_gate_maps_shape_and_range(cls):
    m = _randomise(cls(16))
    (amap, ) = module_attention_maps('m', m, (_x(), ), {})
    assert amap.maps.shape == (2, H, W) and torch.isfinite(amap.maps).all()
    if cls is GlobalContextBlock:  # softmax pooling weights over all positions
        torch.testing.assert_close(amap.maps.sum(dim=(1, 2)), torch.ones(2))
    else:  # sigmoid gates
        assert amap.maps.min() >= 0 and amap.maps.max() <= 1


def test_position_attention_row_matches_dense_softmax():
    m = _randomise(PositionAttention(16, 4))
    x = _x()
    point = (0.8, 0.3)
    (amap, ) = module_attention_maps('pam', m, (x, ), {}, [point])
    r, c = grid_point(point, H, W)
    q = m.query_project(x).flatten(2).transpose(1, 2)
    k = m.key_project(x).flatten(2)
    dense = torch.softmax(q @ k, dim=-1)  # (B, N, N), unscaled energies (Eq. 1)
    torch.testing.assert_close(amap.maps.reshape(2, -1), dense[:, r * W + c].detach())
    assert amap.query == point


@pytest.mark.parametrize('mode,sub_sample', [('embedded_gaussian', False),
                                             ('embedded_gaussian', True), ('gaussian', False),
                                             ('dot_product', False)])
def test_non_local_row_matches_dense(mode, sub_sample):
    m = _randomise(NonLocal2d(16, mode=mode, sub_sample=sub_sample))
    x = _x()
    (amap, ) = module_attention_maps('nl', m, (x, ), {}, [(0.5, 0.5)])
    idx = 3 * W + 4
    if mode == 'gaussian':
        q, k = x, x
    else:
        q, k = m.theta(x), m._keys(m.phi, x)
    hk, wk = k.shape[2:]
    q, k = q.flatten(2).transpose(1, 2), k.flatten(2)
    s = (q @ k).detach()
    if mode == 'dot_product':
        expect = s / k.shape[-1]
    else:
        scale = q.shape[-1]**-0.5 if mode == 'embedded_gaussian' else 1.0
        expect = torch.softmax(s * scale, dim=-1)
    assert amap.maps.shape == (2, hk, wk)
    torch.testing.assert_close(amap.maps.reshape(2, -1), expect[:, idx], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('pos', [None, 'absolute', 'relative'])
def test_mhsa_row_matches_its_own_forward(pos):
    """The head-averaged map times the values reproduces the module's attention output at the
    query pixel (checked by swapping in a one-head module whose values are the identity)."""
    m = _randomise(MultiHeadSelfAttention2d(8, num_heads=1, pos_encoding=pos, max_size=16))
    x = _x(8)
    point = (0.3, 0.7)
    (amap, ) = module_attention_maps('mhsa', m, (x, ), {}, [point])
    torch.testing.assert_close(amap.maps.sum(dim=(1, 2)), torch.ones(2))
    # Output of the attention at the query = Σ_j a_j v_j: recompute v and compare with the
    # module's own pre-projection output captured from out_proj's input.
    seen = {}
    m.out_proj.register_forward_hook(lambda mod, i, o: seen.setdefault('y', i[0]))
    with torch.no_grad():
        m(x)
    r, c = grid_point(point, H, W)
    v = m.qkv(x)[:, 16:].flatten(2)  # (B, d, N), values are not position-encoded
    expect = torch.einsum('bn,bdn->bd', amap.maps.reshape(2, -1), v.detach())
    torch.testing.assert_close(seen['y'][:, :, r, c], expect, rtol=1e-4, atol=1e-5)


def test_non_local_map_rebuilds_its_forward_at_the_query():
    """Σ_j a_j g(x_j) with the map's weights is what the block's forward feeds W_z at the
    query pixel (Eq. 1), in every mode, with and without sub-sampling."""
    for mode, sub_sample in [('embedded_gaussian', True), ('gaussian', False),
                             ('dot_product', False)]:
        m = _randomise(NonLocal2d(16, mode=mode, sub_sample=sub_sample))
        x = _x()
        point = (0.7, 0.2)
        (amap, ) = m.attention_maps(x, queries=[point])
        seen = {}
        handle = m.conv_out.register_forward_pre_hook(lambda mod, i: seen.update(y=i[0]))
        with torch.no_grad():
            m(x)
            value = m._keys(m.g, x).flatten(2)  # (B, c, Nk)
        handle.remove()
        r, c = grid_point(point, H, W)
        rebuilt = torch.einsum('bn,bcn->bc', amap.maps.flatten(1), value)
        torch.testing.assert_close(seen['y'][:, :, r, c], rebuilt, rtol=1e-4, atol=1e-5)


def test_criss_cross_map_rebuilds_its_forward_at_the_query():
    """One pass: x + γ Σ_u A_u V_u at the query, with A the map's weights on its cross."""
    m = _randomise(CrissCrossAttention(16, reduction=4))
    x = _x()
    point = (0.4, 0.9)
    (amap, ) = m.attention_maps(x, queries=[point])
    with torch.no_grad():
        out = m(x)
        value = m.value_conv(x).flatten(2)
    r, c = grid_point(point, H, W)
    rebuilt = x[:, :, r, c] + m.gamma.scale * torch.einsum('bn,bcn->bc', amap.maps.flatten(1),
                                                          value)
    torch.testing.assert_close(out[:, :, r, c], rebuilt, rtol=1e-4, atol=1e-5)


def test_gate_maps_are_what_the_forward_multiplies_by():
    """SCSE's spatial half and CoordAttention's gates, rebuilt into the forward's output."""
    x = _x()
    scse = _randomise(SCSE(16, reduction=4))
    (amap, ) = scse.attention_maps(x)
    with torch.no_grad():
        s = x.mean(dim=(2, 3), keepdim=True)
        channel = x * scse.gate(scse.channel_fc2(scse.channel_act(scse.channel_fc1(s))))
        torch.testing.assert_close(scse(x), channel + x * amap.maps[:, None])
    bam = _randomise(BAM(16, reduction=4))
    with torch.no_grad():
        bam.gamma.scale.fill_(1.0)
        attention = bam._attention(x)
        torch.testing.assert_close(bam(x), x + x * attention)
    (amap, ) = bam.attention_maps(x)
    torch.testing.assert_close(amap.maps, attention.mean(1))


class _ThirdPartyGate(nn.Module):
    """Not an attnplug layer: it implements the protocol and nothing else."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean(1, keepdim=True))

    def attention_maps(self, x, *, queries=()):
        return [AttentionMap('mean gate', torch.sigmoid(x.mean(1)))]


def test_any_module_with_the_method_is_drawn():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), _ThirdPartyGate())
    x = torch.randn(2, 3, H, W)
    assert [n for n, _ in find_modules(net)] == ['1']
    with AttentionRecorder(net) as rec:
        with torch.no_grad():
            net(x)
    (amap, ) = rec.maps()
    assert (amap.module, amap.type, amap.label) == ('1', '_ThirdPartyGate', 'mean gate')
    torch.testing.assert_close(amap.maps, torch.sigmoid(net[0](x).mean(1)).detach())


def _dense_cc(m, x):
    """The N×N matrix of one criss-cross pass, from the energies."""
    b, _, h, w = x.shape
    a = criss_cross_energies(m.query_conv(x), m.key_conv(x)).softmax(-1)
    dense = torch.zeros(b, h, w, h, w)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    for i in range(h):
        dense[:, rows, cols, i, cols] += a[:, :, :, i]
    for j in range(w):
        dense[:, rows, cols, rows, j] += a[:, :, :, h + j]
    return dense.reshape(b, h * w, h * w)


@pytest.mark.parametrize('recurrence', [1, 2])
def test_criss_cross_composed_map_matches_dense_product(recurrence):
    m = _randomise(CrissCrossAttention(16, recurrence=recurrence, reduction=4))
    x = _x()
    point = (0.2, 0.6)
    (amap, ) = module_attention_maps('cc', m, (x, ), {}, [point])
    r, c = grid_point(point, H, W)
    with torch.no_grad():
        xs, dense = x, None
        for _ in range(recurrence):
            a = _dense_cc(m, xs)
            # y2[p] = Σ_u A2[p, u] x1[u] and x1[u] ⊃ Σ_v A1[u, v] x0[v]: A2 @ A1
            dense = a if dense is None else a @ dense
            xs = m.gamma(criss_cross_attention(m.query_conv(xs), m.key_conv(xs),
                                               m.value_conv(xs))) + xs
    torch.testing.assert_close(amap.maps.reshape(2, -1), dense[:, r * W + c], rtol=1e-4,
                               atol=1e-6)
    torch.testing.assert_close(amap.maps.sum(dim=(1, 2)), torch.ones(2))
    if recurrence == 2:  # two passes reach every pixel (Sec. 3.3 of arXiv 1811.11721)
        assert (amap.maps > 0).all()
    else:  # one pass: only the query's row and column
        assert (amap.maps > 0).sum(dim=(1, 2)).eq(H + W - 1).all()


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.cbam = CBAM(16, reduction=4)
        self.se = SqueezeExcitation(16)
        self.cam = ChannelAttention(16)
        self.pam = PositionAttention(16, 4)

    def forward(self, x):
        return self.pam(self.cam(self.se(self.cbam(self.stem(x)))))


def test_find_modules_by_type_name_and_pattern():
    net = _Net()
    assert [n for n, _ in find_modules(net, ['CBAM'])] == ['cbam']
    assert [n for n, _ in find_modules(net, ['pam', 'C*'])] == ['cbam', 'pam']
    # channel-only modules have no spatial map and are never returned
    assert find_modules(net, ['SqueezeExcitation', 'ChannelAttention']) == []
    assert 'CBAM' in supported_types() and 'SqueezeExcitation' not in supported_types()


def test_recorder_removes_its_hooks_and_slices_the_batch():
    net = _randomise(_Net())
    x = torch.randn(3, 3, H, W)
    with AttentionRecorder(net, ['CBAM', 'PositionAttention']) as rec:
        with torch.no_grad():
            net(x)
            net(x)  # a second call (slide inference) is counted, not recorded
    assert rec.calls == {'cbam': 2, 'pam': 2}
    assert all(not m._forward_hooks for m in net.modules())
    maps = rec.maps([(0.5, 0.5)])
    assert [(a.module, a.maps.shape[0]) for a in maps] == [('cbam', 3), ('pam', 3)]
    one = rec.maps([(0.5, 0.5)], index=2)
    torch.testing.assert_close(one[1].maps[0], maps[1].maps[2])


def test_overlay_and_grid_are_not_blank():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 80, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:5, 0:10]
    amap = np.exp(-((yy - 2)**2 + (xx - 7)**2) / 4.0)
    blended, lo, hi = overlay(image, amap)
    assert blended.shape == image.shape and lo < hi
    # the peak (right) is red-ish in 'jet', the far left blue-ish
    assert blended[20, 60, 0] > blended[20, 5, 0] and blended[20, 5, 2] > blended[20, 60, 2]
    marked = draw_query(blended, (0.5, 0.5))
    assert (marked != blended).any()
    grid = compose_grid([(['input'], image), (['map', 'line 2'], marked)], ncols=2)
    assert grid.shape[1] > 2 * 80 and grid.std() > 10
    flat, lo, hi = normalize(np.ones((3, 3)))
    assert (flat == 0.5).all() and lo == hi
