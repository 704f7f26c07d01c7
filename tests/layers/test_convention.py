"""The one layer convention (docs/contributing.md), checked on every registered layer, so that
a new layer that departs from it fails here rather than in a reader's head."""
import inspect

import pytest
import torch
import torch.nn as nn

from attnplug.layers.base import AttentionModule, has_attention_maps, registered_layers
from attnplug.layers.scale import Scale

C = 16
LAYERS = registered_layers()
# Residual layers: an exact identity when built and after init_weights() (their defaults).
RESIDUAL = {'BAM', 'ChannelAttention', 'CrissCrossAttention', 'GlobalContextBlock',
            'MultiHeadSelfAttention2d', 'NonLocal2d', 'PositionAttention',
            'ExternalAttention', 'LargeKernelAttention'}


def test_every_registered_layer_is_listed():
    from attnplug.registry import MODELS
    import attnplug.layers as L
    exported = {n for n, c in vars(L).items()
                if isinstance(c, type) and issubclass(c, AttentionModule) and c is not
                AttentionModule}
    assert exported == set(LAYERS), 'a layer is exported but not registered, or the reverse'
    assert all(MODELS.get(n) is c for n, c in LAYERS.items())
    assert RESIDUAL <= set(LAYERS)


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_constructor_shape(name):
    cls = LAYERS[name]
    params = list(inspect.signature(cls.__init__).parameters)
    assert params[:2] == ['self', 'in_channels'], f'{name}: in_channels must come first'
    assert params[-1] == 'init_cfg', f'{name}: init_cfg must come last'
    # no alternative spellings of the width knobs (docs/contributing.md, "vocabulary")
    banned = {'inter_channels', 'attn_channels', 'min_channels', 'min_attn_channels',
              'planes', 'rd_channels'}
    assert not banned & set(params), f'{name}: use the shared vocabulary, not {banned & set(params)}'
    # init_weights is the base's (init_cfg, then reset_parameters); no per-layer override
    assert 'init_weights' not in vars(cls), f'{name}: override reset_parameters, not init_weights'


# Not one-input plugins: a two-input gate and a conv layer; for_channels() builds them.
NOT_PLUGINS = {'AttentionGate': 'gating_channels', 'SKConv': 'out_channels'}


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_built_from_in_channels_alone_and_runs(name):
    cls = LAYERS[name]
    if name not in NOT_PLUGINS:
        assert isinstance(cls(in_channels=C), cls)
    else:
        with pytest.raises(TypeError, match=NOT_PLUGINS[name]):
            cls(in_channels=C)
    layer = cls.for_channels(C).eval()
    inputs = layer.example_inputs(2, 9, 11)
    with torch.no_grad():
        out = layer(*inputs)
    assert out.shape[0] == 2 and out.shape[2:] == (9, 11)
    if has_attention_maps(layer):
        maps = layer.attention_maps(*inputs, queries=[(0.5, 0.5)])
        assert maps and all(m.maps.dim() == 3 and m.maps.dtype == torch.float32 for m in maps)


@pytest.mark.parametrize('name', sorted(RESIDUAL))
def test_residual_layers_are_identities_when_built(name):
    layer = LAYERS[name](in_channels=C).eval()
    x = torch.randn(2, C, 9, 11)
    with torch.no_grad():
        assert torch.equal(layer(x), x)


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_scalar_gains_are_scales(name):
    layer = LAYERS[name].for_channels(C)
    owners = {n: m for n, m in layer.named_modules()}
    for pname, p in layer.named_parameters():
        if p.dim() == 0:
            owner = owners[pname.rpartition('.')[0]]
            assert isinstance(owner, Scale), f'{name}: the gain {pname} is not a Scale'


def test_bam_keeps_its_gain_key_and_loads_old_checkpoints():
    from attnplug.layers import BAM
    bam = BAM(C, reduction=4)
    sd = bam.state_dict()
    assert 'gamma' in sd and 'gamma.scale' not in sd
    assert list(sd).index('gamma') == len(sd) - 1  # where the bare Parameter sat
    sd['gamma'] = torch.tensor(0.25)
    other = BAM(C, reduction=4)
    other.load_state_dict(sd)  # strict
    assert other.gamma.scale.item() == 0.25
    with pytest.raises(RuntimeError, match='gamma'):
        other.load_state_dict({k: v for k, v in sd.items() if k != 'gamma'})
    # mmengine's loader (checkpoints, init_cfg=Pretrained) goes through the same hook
    from mmengine.runner.checkpoint import load_state_dict
    third = BAM(C, reduction=4)
    load_state_dict(third, sd, strict=True)
    assert third.gamma.scale.item() == 0.25


def test_init_weights_applies_init_cfg_then_resets():
    from attnplug.layers import PositionAttention
    pam = PositionAttention(C, init_cfg=dict(type='Constant', layer='Conv2d', val=0.5))
    with torch.no_grad():
        pam.gamma.scale.fill_(3.0)
    pam.init_weights()
    assert pam.gamma.scale.item() == 0.0
    assert (pam.query_project.weight == 0.5).all()


def test_a_pretrained_init_cfg_is_not_reset(tmp_path):
    from attnplug.layers import CrissCrossAttention
    trained = CrissCrossAttention(C)
    with torch.no_grad():
        trained.gamma.scale.fill_(0.7)
    path = tmp_path / 'cca.pth'
    torch.save({'state_dict': trained.state_dict()}, path)
    loaded = CrissCrossAttention(C, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded.init_weights()
    assert loaded.gamma.scale.item() == pytest.approx(0.7)


def test_layers_nested_in_a_backbone_are_reset_after_its_init():
    """A parent's Kaiming init reaches the plugin first; the plugin's init_weights then
    restores its identity (mmengine calls children's init_weights after the parent's)."""
    from mmengine.model import BaseModule

    from attnplug.layers import MultiHeadSelfAttention2d

    class Net(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Kaiming', layer='Conv2d'))
            self.attn = MultiHeadSelfAttention2d(C)

        def forward(self, x):
            return self.attn(x)

    net = Net().eval()
    net.init_weights()
    x = torch.randn(1, C, 5, 7)
    assert net.attn.out_proj.weight.abs().sum() == 0
    with torch.no_grad():
        assert torch.equal(net(x), x)
    assert isinstance(net.attn, nn.Module)


def _inputs_of(layer, batch, height, width):
    """``layer.example_inputs``: one (B, C, H, W) feature, or the attention gate's feature and
    gating signal; a conv layer (SKConv) takes its one input like a plugin."""
    return tuple(t.requires_grad_() for t in layer.example_inputs(batch, height, width))


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_gradient_reaches_every_weight_and_input_after_a_step(name):
    """Two SGD steps towards a random target: the first reaches the inputs and at least one
    weight (a residual layer's zero-initialised gain or output projection), the second every
    weight, once that first step has moved it off zero."""
    # 64 channels: at the default reductions (16) a 16-channel layer has a 1-channel hidden
    # layer, where a norm (GC's LayerNorm, BAM's BN) outputs a constant and passes no gradient.
    layer = LAYERS[name].for_channels(64).train()
    params = list(layer.parameters())
    opt = torch.optim.SGD(params, lr=0.5) if params else None
    inputs = _inputs_of(layer, 2, 9, 11)
    target = torch.randn_like(layer(*inputs))
    grads = []
    for _ in range(2):
        layer.zero_grad()
        for x in inputs:
            x.grad = None
        (layer(*inputs) - target).square().mean().backward()
        grads.append({n: p.grad.abs().max().item() if p.grad is not None else 0.
                      for n, p in layer.named_parameters()})
        if opt is not None:
            opt.step()
        for i, x in enumerate(inputs):
            assert x.grad is not None and x.grad.abs().sum() > 0, f'{name}: input {i}'
    assert not grads[0] or max(grads[0].values()) > 0, f'{name}: {grads[0]}'
    assert all(v > 0 for v in grads[1].values()), f'{name}: no gradient reaches {grads[1]}'


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_wrong_channels_message(name):
    """Each input with one channel too few fails naming the layer, the config key and the
    expected and given counts (``check_channels``'s message)."""
    layer = LAYERS[name].for_channels(C)
    inputs = layer.example_inputs(1, 5, 6)
    for i, x in enumerate(inputs):
        expected = x.shape[1]
        bad = list(inputs)
        bad[i] = x[:, :-1]
        key = 'in_channels' if i == 0 else r'\w+_channels'
        with pytest.raises(ValueError, match=rf'^{type(layer).__name__}: expected {expected} '
                           rf'input channels \({key}={expected}\), got {expected - 1} '):
            layer(*bad)


class _Holder(nn.Module):
    """A model around one layer (which may take several inputs)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, *inputs):
        return self.layer(*inputs)


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_attention_map_tools_find_exactly_the_layers_with_maps(name):
    """The visualiser finds every layer with a spatial map with no edit of its own (the
    recorder's default patterns) and leaves channel-only layers out."""
    from attnplug.visualization.attention_maps import AttentionRecorder, supported_types
    layer = LAYERS[name].for_channels(C).eval()
    assert (name in supported_types()) == has_attention_maps(layer), name
    net = _Holder(layer)
    with AttentionRecorder(net) as rec, torch.no_grad():
        net(*layer.example_inputs(1, 9, 11))
    recorded = [(a.module, a.type) for a in rec.maps()]  # one per map (branches, heads)
    assert set(recorded) == ({('layer', name)} if has_attention_maps(layer) else set())
    assert len(recorded) == len(layer.attention_maps(*layer.example_inputs(1, 9, 11))
                                if has_attention_maps(layer) else []), recorded


@pytest.mark.parametrize('name', sorted(LAYERS))
def test_the_module_benchmark_lists_and_runs_it(name):
    """tools/benchmark_modules.py builds each registered layer through the convention and
    times it, with no edit of the tool."""
    from benchmarks import module_benchmark
    (impl, ) = [i for i in module_benchmark.implementations()
                if i.family == name and i.source == 'attnplug']
    r = module_benchmark.run_case(impl, C, '9x11', 'fwd+bwd', 'fp32', 'cpu', 2, 1, 1, 1.0, 1.0,
                                  min_time_s=0)
    assert r.status == 'ok', r
    assert r.params == sum(p.numel() for p in impl.build(C).parameters())
