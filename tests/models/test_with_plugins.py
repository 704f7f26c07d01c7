"""attnplug.WithPlugins: attention after any submodule of MiT, Swin, CSPNeXt, CSPDarknet, mmseg's
ResNetV1c and HRNet, the wrapped model staying itself.

Every model is tiny (a few thousand parameters) and runs on odd, non-square images. The plugin
layers checked for "identity at init leaves the outputs unchanged" are derived from the registry
(every registered attnplug plugin that is the identity after ``init_weights``), not listed here,
so a new layer is covered when it is registered.
"""
import copy
import inspect
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.registry import DefaultScope

from attnplug.models.with_plugins import (PLUGINS_ATTR, WithPlugins, match_paths,
                                          plugin_sites)
from attnplug.registry import MODELS as ATTNPLUG_MODELS
from attnplug.testing import _kaiming_everything, randomise

pytest.importorskip('mmseg.models')
pytest.importorskip('mmdet.models')

HRNET_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ),
                num_channels=(8, )),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                num_channels=(8, 16)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(8, 16, 32)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                num_channels=(8, 16, 32, 64)))

#: name -> (wraps, kwargs, after, layout the plugins see, input (H, W))
MODELS = {
    'MiT': ('mmseg.MixVisionTransformer',
            dict(embed_dims=16, num_layers=[1, 2, 1, 1], num_heads=[1, 1, 2, 2]),
            'layers.[1-3].1.*', 'NLC', (61, 93)),
    'Swin': ('mmseg.SwinTransformer',
             dict(embed_dims=16, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4], window_size=7),
             'stages.*.blocks.*', 'NLC', (61, 93)),
    'CSPNeXt': ('mmdet.CSPNeXt', dict(deepen_factor=0.167, widen_factor=0.125),
                'stage[2-4]', 'NCHW', (61, 93)),
    'CSPDarknet': ('mmdet.CSPDarknet', dict(deepen_factor=0.33, widen_factor=0.125),
                   'stage[2-4].*', 'NCHW', (62, 94)),  # Focus halves H and W: even sizes
    'ResNetV1c': ('mmseg.ResNetV1c', dict(depth=18, base_channels=16, stem_channels=16),
                  'layer[2-4].1', 'NCHW', (61, 93)),
    'HRNet': ('mmseg.HRNet', dict(extra=HRNET_EXTRA), 'stage[2-4].0.branches.*', 'NCHW',
              (61, 93)),
}


def _identity_plugin_types():
    """Every registered attnplug plugin (a layer taking ``in_channels``, no ``out_channels``)
    that is the identity after a backbone-style init followed by its own ``init_weights``."""
    ATTNPLUG_MODELS.import_from_location()
    found = []
    for name, cls in sorted(ATTNPLUG_MODELS._module_dict.items()):
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module)
                and cls.__module__.startswith('attnplug.layers')):
            continue
        params = inspect.signature(cls).parameters
        if 'in_channels' not in params or 'out_channels' in params:
            continue
        try:
            layer = cls(in_channels=32)
        except TypeError:  # needs more than in_channels (e.g. a gate's second input)
            continue
        _kaiming_everything(layer)
        if hasattr(layer, 'init_weights'):
            layer.init_weights()
        x = torch.randn(2, 32, 9, 11)
        try:
            with torch.no_grad():
                same = torch.equal(layer.eval()(x), x)
        except TypeError:  # forward needs a second input
            continue
        if same:
            found.append(name)
    return found


IDENTITY_TYPES = _identity_plugin_types()


def test_identity_plugin_types_are_found():
    # The derivation must find the residual layers; an empty list would make the
    # parametrised tests below vacuous.
    assert 'GlobalContextBlock' in IDENTITY_TYPES and 'NonLocal2d' in IDENTITY_TYPES, IDENTITY_TYPES
    assert len(IDENTITY_TYPES) >= 5


def _build(name, plugins, **extra):
    wraps, kwargs, _, _, _ = MODELS[name]
    return WithPlugins(wraps=wraps, plugins=plugins, **kwargs, **extra)


def _plain(name):
    from mmengine.registry import MODELS as ROOT
    wraps, kwargs, _, _, _ = MODELS[name]
    return ROOT.build(dict(type=wraps, **kwargs))


def _image(name, batch=1, seed=0):
    h, w = MODELS[name][4]
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _outputs(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _plugin_keys(model):
    return sorted(k for k in model.state_dict() if k.startswith(PLUGINS_ATTR + '.'))


@pytest.mark.parametrize('plugin', IDENTITY_TYPES)
@pytest.mark.parametrize('name', list(MODELS))
def test_identity_at_init_then_perturbed(name, plugin):
    after, layout = MODELS[name][2], MODELS[name][3]
    wrapped = _build(name, [dict(cfg=dict(type=f'attnplug.{plugin}'), after=after)])
    wrapped.init_weights()  # the wrapped model's own init, then the plugins' (identity) init
    plain = randomise(_plain(name), seed=1, spread=0.3)
    result = wrapped.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == []
    # BatchNorm fills in a missing num_batches_tracked itself (old checkpoints), so torch does
    # not report it missing
    assert sorted(result.missing_keys) == [
        k for k in _plugin_keys(wrapped) if not k.endswith('num_batches_tracked')] != []
    sites = plugin_sites(wrapped)
    assert sites and {s.layout for s in sites} == {layout}
    x = _image(name)
    ref, out = _outputs(plain, x), _outputs(wrapped, x)
    assert len(ref) == len(out)
    for a, b in zip(ref, out):
        assert (a - b).abs().max() <= 1e-5
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=2)
    out = _outputs(wrapped, x)
    assert any((a - b).abs().max() > 1e-3 * a.abs().max() for a, b in zip(ref, out))


def test_built_object_is_the_wrapped_model():
    from mmseg.models.backbones import MixVisionTransformer
    wrapped = _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].1.*')])
    assert isinstance(wrapped, MixVisionTransformer)
    assert type(wrapped).__name__ == 'MixVisionTransformer'
    plain = _plain('MiT')
    plain_keys = set(plain.state_dict())
    assert plain_keys <= set(wrapped.state_dict())
    assert set(wrapped.state_dict()) - plain_keys == set(_plugin_keys(wrapped))
    # stages 1-3 of MiT hold 2 + 1 + 1 blocks: one CBAM after each
    assert [s.path for s in plugin_sites(wrapped)] == ['layers.1.1.0', 'layers.1.1.1',
                                                       'layers.2.1.0', 'layers.3.1.0']
    assert [s.channels for s in plugin_sites(wrapped)] == [16, 16, 32, 32]
    assert all(s.hw_source == ('arg', 1) for s in plugin_sites(wrapped))  # block(x, hw_shape)


def test_state_dict_roundtrip_and_plugins_loaded():
    plugins = [dict(cfg=dict(type='attnplug.CBAM'), after='stage[2-4]')]
    a = randomise(_build('CSPNeXt', plugins), seed=3)
    b = _build('CSPNeXt', plugins)
    assert b.load_state_dict(a.state_dict(), strict=True)
    x = _image('CSPNeXt')
    for p, q in zip(_outputs(a, x), _outputs(b, x)):
        assert torch.equal(p, q)


def test_deepcopy_plugins_are_its_own_and_run():
    wrapped = randomise(_build('MiT', [dict(cfg=dict(type='attnplug.SqueezeExcitation'),
                                            after='layers.[1-3].1.*')]), seed=4)
    twin = copy.deepcopy(wrapped)
    x = _image('MiT')
    before = _outputs(twin, x)
    originals = {id(m) for m in getattr(wrapped, PLUGINS_ATTR).modules()}
    assert not originals & {id(m) for m in getattr(twin, PLUGINS_ATTR).modules()}
    for site in plugin_sites(twin):
        target = dict(twin.named_modules())[site.path]
        hooks = list(target._forward_hooks.values())
        assert len(hooks) == 1 and hooks[0].__self__ is site
    # Perturbing the original's plugins must not move the copy; the copy's own do.
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=5)
    for a, b in zip(before, _outputs(twin, x)):
        assert torch.equal(a, b)
    randomise(getattr(twin, PLUGINS_ATTR), seed=6)
    assert any(not torch.equal(a, b) for a, b in zip(before, _outputs(twin, x)))


def test_pickle_roundtrip():
    wrapped = randomise(_build('ResNetV1c', [dict(cfg=dict(type='attnplug.ECA'),
                                                  after='layer3.1')]), seed=7)
    again = pickle.loads(pickle.dumps(wrapped))
    assert type(again) is type(wrapped)
    x = _image('ResNetV1c')
    for a, b in zip(_outputs(wrapped, x), _outputs(again, x)):
        assert torch.equal(a, b)


def test_init_weights_keeps_plugins_identity_after_mit_reinit():
    """MiT's init_weights (init_cfg=None) re-initialises every Linear/Conv/LN it finds; the
    plugins must come out identity all the same, and the MiT weights must be re-initialised."""
    wrapped = _build('MiT', [dict(cfg=dict(type='attnplug.GlobalContextBlock'),
                                  after='layers.[1-3].1.*')])
    randomise(wrapped, seed=8)
    wrapped.init_weights()
    assert torch.all(wrapped.layers[0][2].weight == 1)  # MiT's LN init ran
    for site in plugin_sites(wrapped):
        x = torch.randn(1, site.channels, 5, 7)
        with torch.no_grad():
            assert torch.equal(site.context_block.eval()(x), x)


def test_frozen_stages_norm_eval_train_eval():
    plugins = [dict(cfg=dict(type='attnplug.SqueezeExcitation'), after='layer[2-4].1')]
    wrapped = _build('ResNetV1c', plugins, frozen_stages=2, norm_eval=True)
    plain = _plain_resnet(frozen_stages=2, norm_eval=True)
    for model in (wrapped, plain):
        model.train()
    frozen = {n for n, p in plain.named_parameters() if not p.requires_grad}
    assert frozen and frozen == {n for n, p in wrapped.named_parameters() if not p.requires_grad}
    bn_modes = {n: m.training for n, m in plain.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert bn_modes == {n: m.training for n, m in wrapped.named_modules()
                        if isinstance(m, nn.BatchNorm2d) and not n.startswith(PLUGINS_ATTR)}
    assert not any(bn_modes.values())  # norm_eval: every BN in eval while training
    assert all(p.requires_grad for p in getattr(wrapped, PLUGINS_ATTR).parameters())
    assert getattr(wrapped, PLUGINS_ATTR).training
    wrapped.eval()
    assert not any(m.training for m in wrapped.modules())


def _plain_resnet(**kw):
    from mmengine.registry import MODELS as ROOT
    return ROOT.build(dict(type='mmseg.ResNetV1c', depth=18, base_channels=16, stem_channels=16,
                           **kw))


def test_with_cp_gradients_match():
    """with_cp (activation checkpointing inside MiT blocks) still works and gives the grads of
    the unwrapped model (identity plugins)."""
    wraps, kwargs, after, _, _ = MODELS['MiT']
    wrapped = WithPlugins(wraps=wraps, plugins=[dict(cfg=dict(type='attnplug.CBAM'),
                                                     after=after)], with_cp=True, **kwargs)
    wrapped.init_weights()
    from mmengine.registry import MODELS as ROOT
    plain = randomise(ROOT.build(dict(type=wraps, with_cp=True, **kwargs)), seed=9)
    wrapped.load_state_dict(plain.state_dict(), strict=False)
    assert all(b.with_cp for b in wrapped.layers[1][1])
    x = _image('MiT')
    grads = []
    for model in (plain, wrapped):
        model.train()
        xx = x.clone().requires_grad_()
        sum(o.square().mean() for o in model(xx)).backward()
        grads.append(xx.grad)
    assert (grads[0] - grads[1]).abs().max() <= 1e-5


def test_tuple_outputs_index_and_hw_from_output():
    # MiT's PatchEmbed returns (tokens, hw_shape): one tensor, so no index is needed, and
    # (H, W) is read from the output.
    wrapped = _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.0')])
    site = plugin_sites(wrapped)[0]
    assert (site.layout, site.index, site.hw_source) == ('NLC', 0, ('out', 1))
    # Swin's stage returns (x_down, down_hw, x, hw): two tensors, index picks one.
    with pytest.raises(ValueError, match=r"index=.*\[0, 2\]"):
        _build('Swin', [dict(cfg=dict(type='attnplug.CBAM'), after='stages.1')])
    wrapped = _build('Swin', [dict(cfg=dict(type='attnplug.GlobalContextBlock'), after='stages.1',
                                   index=2)])
    site = plugin_sites(wrapped)[0]
    assert (site.layout, site.index, site.hw_source) == ('NLC', 2, ('arg', 1))
    wrapped.init_weights()
    x = _image('Swin')
    plain = _plain('Swin')
    plain.load_state_dict({k: v for k, v in wrapped.state_dict().items()
                           if not k.startswith(PLUGINS_ATTR)})
    for a, b in zip(_outputs(plain, x), _outputs(wrapped, x)):
        assert (a - b).abs().max() <= 1e-5


def test_nhwc_layout_detected():
    class Nhwc(nn.Module):  # a linear over the last dim of an NHWC map, as in ConvNeXt blocks
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 12, 3, stride=2)
            self.pw = nn.Linear(12, 12)

        def forward(self, x):
            return self.pw(self.stem(x).permute(0, 2, 3, 1))
    wrapped = WithPlugins(wraps=Nhwc, plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation'),
                                                    after='pw')])
    site = plugin_sites(wrapped)[0]
    assert (site.layout, site.channels) == ('NHWC', 12)
    plain = Nhwc()
    plain.load_state_dict(wrapped.state_dict(), strict=False)
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=1)
    x = torch.randn(2, 3, 15, 21)
    se = site.se.eval()
    with torch.no_grad():
        expected = se(plain(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        assert torch.allclose(wrapped.eval()(x), expected, atol=1e-6)


def test_glob_patterns_are_per_component():
    wrapped = _build('MiT', [dict(cfg=dict(type='attnplug.ECA'), after='layers.1.1.0')])
    assert match_paths(wrapped, 'layers.[1-3].1.*') == [
        'layers.1.1.0', 'layers.1.1.1', 'layers.2.1.0', 'layers.3.1.0']
    deep = match_paths(wrapped, 'layers.**.norm1')  # '**' spans components
    assert deep == ['layers.0.1.0.norm1', 'layers.1.1.0.norm1', 'layers.1.1.1.norm1',
                    'layers.2.1.0.norm1', 'layers.3.1.0.norm1']
    assert match_paths(wrapped, 'layers.1.1.0') == ['layers.1.1.0']


# --------------------------------------------------------------------------- build-time errors
def test_error_pattern_matches_nothing():
    with pytest.raises(ValueError) as info:
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layer.[1-3].1.*')])
    msg = str(info.value)
    assert "after='layer.[1-3].1.*'" in msg and 'matches no submodule' in msg
    assert "(matched up to '')" in msg and 'Candidate paths: layers,' in msg
    with pytest.raises(ValueError) as info:  # the match stops after 'layers.[1-3]'
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].3.*')])
    msg = str(info.value)
    assert "matched up to 'layers.[1-3]'" in msg and 'layers.1.1' in msg and 'layers.3.2' in msg


def test_error_container_never_called():
    with pytest.raises(ValueError, match=r"'layers.1.1' was not called in the dry run"):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1')])


def test_grid_from_the_enclosing_call():
    """MiT's norm1 is called as norm1(x): no H x W in its own call. The block enclosing it is
    called as block(x, hw_shape), so the grid comes from there."""
    wrapped = _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0.norm1')])
    site, = plugin_sites(wrapped)
    assert (site.layout, site.channels, site.prefix) == ('NLC', 16, 0)
    assert site.hw_source == ('call', 'layers.1.1.0', 'arg', 1)
    x = _image('MiT')
    plain = _plain('MiT')
    plain.load_state_dict(wrapped.state_dict(), strict=False)
    randomise(getattr(wrapped, PLUGINS_ATTR), seed=1)
    seen = {}
    plain.layers[1][1][0].norm1.register_forward_hook(lambda m, a, o: seen.update(x=o))
    plain.layers[1][1][0].register_forward_hook(
        lambda m, a, o: seen.update(hw=a[1]))
    _outputs(plain, x)
    got = {}
    wrapped.layers[1][1][0].norm1.register_forward_hook(lambda m, a, o: got.update(y=o))
    _outputs(wrapped, x)
    (h, w), tokens = seen['hw'], seen['x']
    expected = site.cbam(tokens.transpose(1, 2).reshape(1, 16, h, w)).flatten(2).transpose(1, 2)
    assert torch.allclose(got['y'], expected, atol=1e-6)


def test_error_tokens_without_any_grid():
    """Tokens made without any module that sees the grid (unfold + Linear): every place the
    grid was looked for is named, and nothing is guessed."""
    class Unfolded(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(48, 8)
            self.mix = nn.Linear(8, 8)

        def forward(self, x):
            tokens = torch.nn.functional.unfold(x, 4, stride=4).transpose(1, 2)
            return self.mix(self.embed(tokens))
    with pytest.raises(ValueError) as info:
        WithPlugins(wraps=Unfolded, plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='mix')])
    msg = str(info.value)
    assert 'never guesses a square' in msg and "after='mix'" in msg
    for looked_for in ('its own call and output', "the calls enclosing it ('')",
                       'a patch embedding returning (x, hw_shape)', 'flattened from'):
        assert looked_for in msg


def test_error_wrong_layout_given():
    with pytest.raises(ValueError, match=r"layout='NCHW' was given for 'layers.1.1.0'.*'NLC'"):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0',
                            layout='NCHW')])


def test_error_ambiguous_layout_static():
    """Without a dry run (probe off), a module whose channels come from a Linear fits NLC and
    NHWC alike: an error naming the pattern and what to give."""
    with pytest.raises(ValueError) as info:
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0.attn.attn.out_proj')],
               probe=dict(sizes=()))
    msg = str(info.value)
    assert 'ambiguous' in msg and 'out_proj' in msg and "layout='NLC'" in msg


def test_error_in_channels_cannot_be_inferred():
    class NoChannels(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.conv(x[:, :3]))
    with pytest.raises(ValueError) as info:
        WithPlugins(wraps=NoChannels, plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation'),
                                                    after='act')], probe=dict(sizes=()))
    msg = str(info.value)
    assert "in_channels of the plugin after 'act' cannot be inferred" in msg
    assert "after='act'" in msg and 'Expected in_channels' in msg


def test_error_in_channels_mismatch_and_ambiguous_tuple():
    with pytest.raises(ValueError, match=r'in_channels=7.*has 16 channels'):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM', in_channels=7), after='layers.1.1.0')])


def test_error_unknown_wraps_and_keys():
    with pytest.raises(KeyError, match=r"wraps='NoSuchNet'.*'mmseg.NoSuchNet'"):
        WithPlugins(wraps='NoSuchNet', plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='x')])
    with pytest.raises(ValueError, match="unknown key"):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0', position=1)])
    with pytest.raises(ValueError, match='is not one of'):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0', layout='CHW')])
    with pytest.raises(ValueError, match='distinct postfixes'):
        _build('MiT', [dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0'),
                       dict(cfg=dict(type='attnplug.CBAM'), after='layers.1.1.0')])


def test_two_plugins_at_one_path_chain():
    wrapped = _build('CSPNeXt', [dict(cfg=dict(type='attnplug.SqueezeExcitation'), after='stage3'),
                                 dict(cfg=dict(type='attnplug.ECA'), after='stage3')])
    site = plugin_sites(wrapped)[0]
    assert site.plugin_names == ['se', 'eca']
    randomise(wrapped, seed=3)
    feats = {}
    wrapped.stage3.register_forward_hook(lambda m, a, o: feats.setdefault('out', o))
    x = _image('CSPNeXt')
    outs = _outputs(wrapped, x)
    raw = feats['out']  # hooks run in order: the plugins' hook ran first, so this is the result
    plain = _plain('CSPNeXt')
    plain.load_state_dict({k: v for k, v in wrapped.state_dict().items()
                           if not k.startswith(PLUGINS_ATTR)})
    mid = {}
    plain.stage3.register_forward_hook(lambda m, a, o: mid.setdefault('out', o))
    _outputs(plain, x)
    with torch.no_grad():
        expected = site.eca(site.se(mid['out']))
    assert torch.allclose(raw, expected, atol=1e-6)
    assert len(outs) == 3


def test_config_scope_resolution():
    """An unscoped 'wraps' resolves in the current default scope, as the base's type did."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS as DET_MODELS
        model = DET_MODELS.build(dict(type='attnplug.WithPlugins', wraps='CSPDarknet',
                                      deepen_factor=0.33, widen_factor=0.125,
                                      plugins=[dict(cfg=dict(type='attnplug.ECA'),
                                                    after='stage4')]))
    from mmdet.models.backbones import CSPDarknet
    assert isinstance(model, CSPDarknet) and plugin_sites(model)[0].channels == 128


class _Tokens(nn.Module):
    """A stem and one token block called as ``block(x, hw_shape)``, as MiT's and Swin's are."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x, hw_shape):
            return x + self.fc(x)

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.block = self.Block()

    def forward(self, x):
        x = self.stem(x)
        b, c, h, w = x.shape
        tokens = self.block(x.flatten(2).transpose(1, 2), (h, w))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


def test_onnx_export_and_compile():
    """Export (dynamo) and torch.compile trace the hooks of a token site as ordinary calls."""
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    import io

    import onnxruntime as ort
    wrapped = WithPlugins(wraps=_Tokens, plugins=[dict(cfg=dict(type='attnplug.CBAM', reduction=2),
                                                       after='block')])
    assert plugin_sites(wrapped)[0].hw_source == ('arg', 1)
    randomise(wrapped, seed=11).eval()
    x = torch.randn(1, 3, 23, 31)
    with torch.no_grad():
        ref = wrapped(x)
        plain = _Tokens().eval()
        plain.load_state_dict(wrapped.state_dict(), strict=False)
        assert (plain(x) - ref).abs().max() > 1e-3  # the plugin is in the exported graph
    buf = io.BytesIO()
    torch.onnx.export(wrapped, (x, ), buf, opset_version=17, dynamo=True, verbose=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert (ref - torch.from_numpy(out)).abs().max() <= 1e-5
    compiled = torch.compile(wrapped, backend='eager', fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), ref, atol=1e-6)


def test_error_ambiguous_layout_from_dry_run():
    """(B, C, N) tokens fit none of the layouts: the dry run refuses them, naming the shapes."""
    class ChannelsFirstTokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2)
            self.flat = nn.Flatten(2)

        def forward(self, x):
            return self.flat(self.stem(x))
    with pytest.raises(ValueError) as info:
        WithPlugins(wraps=ChannelsFirstTokens,
                    plugins=[dict(cfg=dict(type='attnplug.SqueezeExcitation'), after='flat')])
    msg = str(info.value)
    assert "the layout of 'flat' is ambiguous" in msg and "after='flat'" in msg
    assert '(1, 8, 1457)' in msg  # 64x96 input, stride 2, no padding: 31 x 47 tokens
