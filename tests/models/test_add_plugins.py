"""attnplug.add_plugins: the machinery of WithPlugins on plain nn.Modules that no registry builds.

Two hand-written models, as a user of another framework would bring them: a small CNN (NCHW
stages of blocks) and a small token model (a patch embedding and blocks called as
``block(x, hw_shape)``). The model keeps its class and keys; only plugin keys are added.
"""
import copy
import pickle

import pytest
import torch
import torch.nn as nn

import attnplug
from attnplug.models.with_plugins import PLUGINS_ATTR, plugin_sites
from attnplug.testing import assert_onnx_parity, randomise


class TinyCNN(nn.Module):
    """Three stages of two residual blocks each, the shape of a ResNet."""

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.bn = nn.BatchNorm2d(c)

        def forward(self, x):
            return torch.relu(x + self.bn(self.conv(x)))

    def __init__(self, widths=(8, 16, 24)):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, stride=2, padding=1)
        stages, c_in = [], widths[0]
        for c in widths:
            stages.append(nn.Sequential(nn.Conv2d(c_in, c, 3, stride=2, padding=1),
                                        self.Block(c), self.Block(c)))
            c_in = c
        self.layer1, self.layer2, self.layer3 = stages
        self.head = nn.Conv2d(c_in, 5, 1)

    def forward(self, x):
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


class TinyTokens(nn.Module):
    """A patch embedding returning ``(tokens, (H, W))`` and blocks called as
    ``block(x, hw_shape)``, as MiT and Swin do; the output is the final map (B, C, H, W)."""

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = nn.LayerNorm(c)
            self.fc = nn.Linear(c, c)

        def forward(self, x, hw_shape):
            return x + self.fc(self.norm(x))

    class PatchEmbed(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.proj = nn.Conv2d(3, c, 4, stride=4)

        def forward(self, x):
            x = self.proj(x)
            return x.flatten(2).transpose(1, 2), x.shape[2:]

    def __init__(self, c=16, depth=3):
        super().__init__()
        self.patch_embed = self.PatchEmbed(c)
        self.blocks = nn.ModuleList(self.Block(c) for _ in range(depth))

    def forward(self, x):
        x, hw = self.patch_embed(x)
        for block in self.blocks:
            x = block(x, hw)
        return x.transpose(1, 2).reshape(x.shape[0], -1, *hw)


class TinyViT(nn.Module):
    """A ViT as timm and torchvision write it: a conv patch embedding flattened to tokens, a
    class token in front, blocks called as ``block(x)`` (no H x W anywhere in their calls)."""

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = nn.LayerNorm(c)
            self.fc = nn.Linear(c, c)

        def forward(self, x):
            return x + self.fc(self.norm(x))

    class PatchEmbed(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.proj = nn.Conv2d(3, c, 4, stride=4)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)

    def __init__(self, c=16, depth=3):
        super().__init__()
        self.patch_embed = self.PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.blocks = nn.Sequential(*(self.Block(c) for _ in range(depth)))

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.blocks(x)


MODELS = {
    'cnn': (TinyCNN, 'layer[2-3].[1-2]', 'NCHW', [16, 16, 24, 24]),
    'tokens': (TinyTokens, 'blocks.*', 'NLC', [16, 16, 16]),
    'vit': (TinyViT, 'blocks.*', 'NLC', [16, 16, 16]),
}


def _make(name, seed=0):
    torch.manual_seed(seed)
    return randomise(MODELS[name][0](), seed=seed).eval()


def _x(seed=1):
    return torch.randn(2, 3, 45, 61, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('name', list(MODELS))
def test_same_class_same_keys_plus_plugin_keys_identity_at_init(name):
    cls, after, layout, channels = MODELS[name][0], *MODELS[name][1:]
    plain = _make(name)
    model = copy.deepcopy(plain)
    keys = set(model.state_dict())
    out = attnplug.add_plugins(model, [dict(cfg=dict(type='GlobalContextBlock'), after=after)])
    assert out is model and type(model) is cls
    added = set(model.state_dict()) - keys
    assert keys <= set(model.state_dict()) and added
    assert all(k.startswith(PLUGINS_ATTR + '.') for k in added)
    sites = plugin_sites(model)
    assert [s.layout for s in sites] == [layout] * len(channels)
    assert [s.channels for s in sites] == channels
    x = _x()
    with torch.no_grad():
        assert torch.equal(model.eval()(x), plain(x))  # a residual plugin starts as identity
        randomise(getattr(model, PLUGINS_ATTR), seed=3)
        assert (model(x) - plain(x)).abs().max() > 1e-3  # ...and it is really in the forward
    # the plain model's checkpoint loads with exactly the plugin keys missing
    fresh = attnplug.add_plugins(cls(), [dict(cfg=dict(type='GlobalContextBlock'), after=after)])
    res = fresh.load_state_dict(plain.state_dict(), strict=False)
    assert res.unexpected_keys == [] and set(res.missing_keys) == {
        k for k in added if not k.endswith('num_batches_tracked')}


@pytest.mark.parametrize('name', list(MODELS))
def test_deepcopy_and_pickle(name):
    after = MODELS[name][1]
    model = attnplug.add_plugins(_make(name), [dict(cfg=dict(type='CBAM'), after=after)])
    randomise(getattr(model, PLUGINS_ATTR), seed=4)
    x = _x()
    with torch.no_grad():
        ref = model(x)
        twin = copy.deepcopy(model)
        again = pickle.loads(pickle.dumps(model))
        assert type(again) is type(model)
        assert torch.equal(twin(x), ref) and torch.equal(again(x), ref)
        # the copies' hooks run their own plugins: perturbing the original's leaves them
        randomise(getattr(model, PLUGINS_ATTR), seed=5)
        assert not torch.equal(model(x), ref)
        assert torch.equal(twin(x), ref) and torch.equal(again(x), ref)


@pytest.mark.parametrize('name', list(MODELS))
def test_onnx_and_compile(name):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    after = MODELS[name][1]
    model = attnplug.add_plugins(_make(name), [dict(cfg=dict(type='CBAM'), after=after)])
    randomise(getattr(model, PLUGINS_ATTR), seed=6)
    assert_onnx_parity(model, in_channels=3, size=(45, 61), atol=1e-4)
    x = _x()
    compiled = torch.compile(model, backend='eager', fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-6)


def test_vit_grid_from_the_patch_map_and_class_token():
    """The grid of TinyViT's tokens is the map its patch conv made (found in the dry run, at
    both probe sizes N = 1 + H*W), and the class token is passed through."""
    model = attnplug.add_plugins(_make('vit'), [dict(cfg=dict(type='CBAM'), after='blocks.1')])
    site, = plugin_sites(model)
    assert site.hw_source == ('output', 'patch_embed.proj', 'map', None) and site.prefix == 1


def test_scoped_types_and_errors():
    model = attnplug.add_plugins(TinyCNN(), [dict(cfg=dict(type='attnplug.ECA'),
                                                  after='layer3')])
    assert [type(m).__name__ for s in plugin_sites(model) for m in s.children()] == ['ECA']
    with pytest.raises(ValueError, match='already has an attribute'):
        attnplug.add_plugins(model, [dict(cfg=dict(type='ECA'), after='layer2')])
    with pytest.raises(KeyError, match="'NoSuchLayer' is not registered"):
        attnplug.add_plugins(TinyCNN(), [dict(cfg=dict(type='NoSuchLayer'), after='layer2')])
    with pytest.raises(ValueError, match=r"attnplug.add_plugins\(TinyCNN\).*after='layer9'"):
        attnplug.add_plugins(TinyCNN(), [dict(cfg=dict(type='ECA'), after='layer9')])
    with pytest.raises(TypeError, match='must be an nn.Module instance'):
        attnplug.add_plugins(TinyCNN, [dict(cfg=dict(type='ECA'), after='layer2')])
    with pytest.raises(TypeError, match=r'probe sizes must be a list of \(H, W\)'):
        attnplug.add_plugins(TinyCNN(), [dict(cfg=dict(type='ECA'), after='layer2')],
                             probe_sizes=[64])


def test_docs_example_runs():
    """The hand-written example of docs/any_model.md runs as written (without the weights
    file it loads) and gives one site per matched block."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / 'docs/any_model.md').read_text()
    section = text.split('## Any `nn.Module`: `attnplug.add_plugins`')[1]
    code = section.split('```python\n')[1].split('```')[0]
    load = "model.load_state_dict(torch.load('mynet.pth'))"
    assert load in code
    scope = {}
    exec(compile(code.replace(load, 'pass'), 'docs/any_model.md', 'exec'), scope)
    model = scope['model']
    assert sorted((s.path, s.channels) for s in plugin_sites(model)) == [
        ('layer2.2', 32), ('layer3.1', 64), ('layer3.2', 64)]
    assert model(torch.randn(1, 3, 23, 31)).shape == (1, 64, 3, 4)
