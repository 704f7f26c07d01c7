"""Where the grid of a token sequence comes from, found in the dry run, never guessed: each
case of docs/any_model.md on the model it was written for (small configs of mmseg's
VisionTransformer, BEiT and MSCAN), and the class token passed through untouched."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS as ROOT

from attnplug.models.with_plugins import PLUGINS_ATTR, WithPlugins, plugin_sites
from attnplug.testing import randomise

pytest.importorskip('mmseg.models')

VIT = dict(img_size=(48, 64), patch_size=8, embed_dims=16, num_layers=3, num_heads=2,
           out_indices=(1, 2), with_cls_token=True, interpolate_mode='bicubic')
BEIT = dict(img_size=(40, 56), patch_size=8, embed_dims=16, num_layers=2, num_heads=2,
            out_indices=(1, ))
MSCAN = dict(embed_dims=[8, 16, 24, 32], depths=[1, 2, 1, 1], norm_cfg=dict(type='BN'))


def _pair(wraps, kwargs, after, plugin='attnplug.GlobalContextBlock', **extra):
    wrapped = WithPlugins(wraps=wraps, plugins=[dict(cfg=dict(type=plugin), after=after)],
                          **extra, **kwargs)
    wrapped.init_weights()
    plain = randomise(ROOT.build(dict(type=wraps, **kwargs)), seed=1, spread=0.3)
    res = wrapped.load_state_dict(plain.state_dict(), strict=False)
    assert res.unexpected_keys == [] and res.missing_keys
    assert all(k.startswith(PLUGINS_ATTR) for k in res.missing_keys)
    wrapped.eval()  # mmseg's ViT.train() returns None: never chain it
    plain.eval()
    return wrapped, plain


def _same_then_different(wrapped, plain, x):
    with torch.no_grad():
        ref, out = plain(x), wrapped(x)
        for a, b in zip(ref, out):
            assert (a - b).abs().max() <= 1e-5  # identity at init
        randomise(getattr(wrapped, PLUGINS_ATTR), seed=2)
        out = wrapped(x)
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(ref, out))


def test_vit_class_token_grid_from_patch_embedding():
    """mmseg's ViT calls its layers as layer(x) with a class token ahead of the grid: the grid
    comes from the patch embedding's (x, hw_shape) output, N = 1 + H*W, and the class token
    passes through untouched."""
    wrapped, plain = _pair('mmseg.VisionTransformer', VIT, 'layers.*')
    sites = plugin_sites(wrapped)
    assert [s.path for s in sites] == ['layers.0', 'layers.1', 'layers.2']
    assert all(s.layout == 'NLC' and s.channels == 16 and s.prefix == 1 for s in sites)
    assert all(s.hw_source == ('output', 'patch_embed', 'out', 1) for s in sites)
    x = torch.randn(1, 3, 45, 61)  # odd: the patch embedding pads to 48x64
    _same_then_different(wrapped, plain, x)
    # the class token leaves the plugin unchanged; the grid tokens do not
    raw, seen = {}, {}
    site = sites[1]
    for name in site.plugin_names:
        getattr(site, name).register_forward_pre_hook(lambda m, a: seen.update(inp=a[0]))
    wrapped.layers[1].register_forward_hook(lambda m, a, o: raw.update(out=o))
    with torch.no_grad():
        wrapped(x)
    # the plugin saw the grid only: (B, C, 6, 8) for a 48x64 (padded) input with 8x8 patches
    assert tuple(seen['inp'].shape) == (1, 16, 6, 8)
    assert raw['out'].shape == (1, 1 + 48, 16)  # the layer's output keeps its class token


def test_vit_class_token_is_passed_through_untouched():
    wrapped, _ = _pair('mmseg.VisionTransformer', VIT, 'layers.1')
    site, = plugin_sites(wrapped)
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=3)
    tokens = torch.randn(2, 1 + 6 * 8, 16)
    site._grid = (6, 8)
    out = site.hook(wrapped.layers[1], (tokens, ), {}, tokens)
    assert torch.equal(out[:, :1], tokens[:, :1])
    assert (out[:, 1:] - tokens[:, 1:]).abs().max() > 1e-3
    with pytest.raises(RuntimeError, match=r'expected \(B, 1 \+ H\*W, 16\)'):
        site._grid = (6, 7)
        site.hook(wrapped.layers[1], (tokens, ), {}, tokens)


def test_mscan_h_and_w_as_two_int_arguments():
    """SegNeXt's MSCAN calls its blocks as block(x, H, W), H and W two ints."""
    wrapped, plain = _pair('mmseg.MSCAN', MSCAN, 'block[2-4].*')
    sites = plugin_sites(wrapped)
    assert [s.path for s in sites] == ['block2.0', 'block2.1', 'block3.0', 'block4.0']
    assert [s.channels for s in sites] == [16, 16, 24, 32]
    assert all(s.layout == 'NLC' and s.hw_source == ('args2', 1) for s in sites)
    _same_then_different(wrapped, plain, torch.randn(1, 3, 45, 61))
    # the stage's norm is called as norm(x), after the blocks: its grid is the x, H, W output
    # of the stage's patch embedding, the last call before it that carries one
    wrapped, plain = _pair('mmseg.MSCAN', MSCAN, 'norm[2-4]')
    sites = plugin_sites(wrapped)
    assert [s.hw_source for s in sites] == [('output', f'patch_embed{i}', 'out2', 1)
                                            for i in (2, 3, 4)]
    _same_then_different(wrapped, plain, torch.randn(1, 3, 45, 61))


def test_mscan_block_attention_grid_from_two_ints():
    """Inside an MSCAN block, a module that gets tokens with H and W as ints."""
    class IntsBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x, H, W):  # noqa: N803  (MSCAN's names)
            return x + self.fc(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.block = IntsBlock()

        def forward(self, x):
            x = self.stem(x)
            b, c, h, w = x.shape
            return self.block(x.flatten(2).transpose(1, 2), h, w)
    wrapped = WithPlugins(wraps=Net, plugins=[dict(cfg=dict(type='attnplug.CBAM'),
                                                   after='block')])
    site, = plugin_sites(wrapped)
    assert (site.layout, site.hw_source, site.prefix) == ('NLC', ('args2', 1), 0)


def test_beit_fixed_input_size_probed_at_its_img_size():
    """BEiT's relative position tables accept only img_size: the default probe sizes fail, so
    the dry run takes the size the model declares."""
    wrapped, plain = _pair('mmseg.BEiT', BEIT, 'layers.*')
    sites = plugin_sites(wrapped)
    assert [s.prefix for s in sites] == [1, 1]
    assert all(s.hw_source == ('output', 'patch_embed', 'out', 1) for s in sites)
    _same_then_different(wrapped, plain, torch.randn(1, 3, 40, 56))
    # the same size given explicitly
    again = WithPlugins(wraps='mmseg.BEiT', probe_sizes=[(40, 56)],
                        plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.1')], **BEIT)
    assert plugin_sites(again)[0].prefix == 1
    # a size BEiT cannot take: the refusal says what was tried
    with pytest.raises(ValueError) as info:
        WithPlugins(wraps='mmseg.BEiT', probe_sizes=[(64, 64)],
                    plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.1')], **BEIT)
    assert 'sizes=[(64, 64)]' in str(info.value)
