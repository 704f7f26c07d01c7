"""Tests of attnplug.AttentionUNet (mmseg's UNet with attention-gated skips).

Tiny UNets (``base_channels`` 2-4) on sizes that UNet's divisibility rule
allows but that are not powers of two; mmseg's own UNet configs with only the
backbone type switched; every UNet config this project ships.
"""
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.models.backbones import UNet
from mmseg.models.utils import UpConvBlock

from attnplug.layers import AttentionGate
from attnplug.models.backbones import AttentionUNet
from attnplug.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
GATE_PARAMS = ('theta_x.weight', 'phi_g.weight', 'phi_g.bias', 'psi.weight', 'psi.bias')
TINY = dict(base_channels=4)
SIZE = (48, 80)  # divisible by the default whole downsample rate 16, not a power of two


def _stock_unet(**kwargs):
    # mmseg's UNet builds InterpConv from mmseg's registry
    with DefaultScope.overwrite_default_scope('mmseg'):
        return UNet(**kwargs)


def _randomise(model, seed=0):
    """Non-trivial weights (He-scaled, so that activations keep their size
    through the net) and BN statistics, so that equal outputs mean equal models."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.dtype.is_floating_point:
                continue
            if t.dim() > 1:
                fan_in = t[0].numel() if 'deconv' not in name else t.shape[0]
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / fan_in)**0.5)
            elif 'running_var' in name or name.endswith('.weight'):  # BN scale and variance
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:  # biases, BN shift and mean
                t.copy_(torch.rand(t.shape, generator=gen) * 0.2 - 0.1)


def _pair(gates, **kwargs):
    """(stock UNet, AttentionUNet) with the stock weights copied over (strict=False)."""
    stock = _stock_unet(**kwargs)
    _randomise(stock)
    ours = AttentionUNet(attention_gates=gates, **kwargs)
    ours.init_weights()
    result = ours.load_state_dict(stock.state_dict(), strict=False)
    stock.eval()  # mmseg's UNet.train() returns None: no chaining
    return stock, ours.eval(), result


# ---------------------------------------------------------------- exactly mmseg's UNet when off
@pytest.mark.parametrize('kwargs', [
    TINY,
    dict(base_channels=2, upsample_cfg=dict(type='DeconvModule')),
    dict(base_channels=2, num_stages=4, strides=(1, 2, 1, 2), enc_num_convs=(1, 2, 2, 1),
         dec_num_convs=(1, 2, 1), downsamples=(False, True, False), enc_dilations=(1, 1, 2, 2),
         dec_dilations=(1, 1, 2)),
])
def test_gates_off_is_mmseg_unet(kwargs):
    stock = _stock_unet(**kwargs)
    _randomise(stock)
    ours = AttentionUNet(attention_gates=False, **kwargs)
    result = ours.load_state_dict(stock.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(ours.state_dict()) == list(stock.state_dict())
    assert len(ours.gates) == 0 and ours.gate_levels == ()
    assert all(type(d) is UpConvBlock for d in ours.decoder)
    stock.eval(), ours.eval()
    x = torch.rand(2, 3, *SIZE)
    with torch.no_grad():
        expected, got = stock(x), ours(x)
    assert len(got) == len(expected) == ours.num_stages
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    with torch.no_grad():
        outs, maps = ours(x, return_gates=True)
    assert maps == {} and all(torch.equal(a, b) for a, b in zip(expected, outs))


def test_stock_state_dict_loads_with_only_gate_keys_missing():
    _, ours, result = _pair(True, **TINY)
    assert result.unexpected_keys == []
    assert set(result.missing_keys) == {f'gates.{level}.{p}'
                                        for level in range(4) for p in GATE_PARAMS}
    _, ours, result = _pair((False, True, True, False), **TINY)
    assert ours.gate_levels == (1, 2)
    assert set(result.missing_keys) == {f'gates.{level}.{p}' for level in (1, 2)
                                        for p in GATE_PARAMS}


# ---------------------------------------------------------------- what the gates do
def test_gates_sit_on_each_skip_gated_by_the_coarser_feature():
    ours = AttentionUNet(**TINY)
    seen = {}

    def record(level):
        def hook(module, args, output):
            skip, g = args[:2]
            seen[level] = (tuple(skip.shape), tuple(g.shape))
        return hook

    for level, gate in ours.gates.items():
        assert isinstance(gate, AttentionGate)
        gate.register_forward_hook(record(int(level)))
    ours.eval()
    with torch.no_grad():
        outs = ours(torch.rand(1, 3, *SIZE))
    h, w = SIZE
    for level in range(4):
        c = 4 * 2**level
        skip_shape = (1, c, h // 2**level, w // 2**level)
        # g: the decoder input of this level *before* upsampling, twice the channels, half the size
        g_shape = (1, 2 * c, h // 2**(level + 1), w // 2**(level + 1))
        assert seen[level] == (skip_shape, g_shape)
        assert tuple(outs[4 - level].shape) == skip_shape


def test_gates_are_not_identity_at_init_and_change_the_output():
    """Documented behaviour: He-initialised (fan-in) gates give alpha = sigmoid(q)
    around 0.5 with a mild spatial pattern, so the output differs from the
    stock UNet's at init; a saturated gate (alpha = 1) gives it back exactly."""
    torch.manual_seed(0)
    stock, ours, _ = _pair(True, base_channels=16)
    for gate in ours.gates.values():  # He fan-in (std sqrt(2 / C_in)), not the UNet's fan-out
        w = gate.theta_x.weight
        assert 0.85 < w.std() * (w.shape[1] / 2)**0.5 < 1.15
    x = torch.rand(1, 3, *SIZE)
    with torch.no_grad():
        expected = stock(x)
        got, maps = ours(x, return_gates=True)
    assert not torch.allclose(got[-1], expected[-1], atol=1e-4)
    assert torch.equal(got[0], expected[0])  # the encoder is not touched
    for alpha in maps.values():
        assert 0 < alpha.min() < alpha.max() < 1
        assert 0.25 < alpha.mean() < 0.75 and alpha.std() > 1e-3
    with torch.no_grad():
        for gate in ours.gates.values():
            gate.psi.weight.zero_()
            gate.psi.bias.fill_(40.0)  # sigmoid(40) == 1 in fp32
        saturated = ours(x)
    for a, b in zip(expected, saturated):
        assert torch.equal(a, b)


def test_gates_receive_gradients():
    ours = AttentionUNet(**TINY)
    ours.init_weights()
    ours.train()
    outs = ours(torch.rand(2, 3, *SIZE))
    outs[-1].square().mean().backward()
    for name, p in ours.gates.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs,size,rate', [
    # 5 stages, max-pool everywhere: rate 16
    (dict(base_channels=2), (16, 112), 16),
    # 4 stages: rate 8, 24x40
    (dict(base_channels=2, num_stages=4, strides=(1, 1, 1, 1), enc_num_convs=(2, 2, 2, 2),
          dec_num_convs=(2, 2, 2), downsamples=(True, True, True), enc_dilations=(1, 1, 1, 1),
          dec_dilations=(1, 1, 1)), (24, 40), 8),
    # last stage not downsampled: its gate sees g at the skip's own size; rate 8, 40x56
    (dict(base_channels=2, downsamples=(True, True, True, False)), (40, 56), 8),
    # strided convs instead of max-pool: rate 16, 32x48
    (dict(base_channels=2, strides=(1, 2, 2, 2, 2), downsamples=(False, False, False, False)),
     (32, 48), 16),
])
def test_sizes_allowed_by_the_divisibility_rule(kwargs, size, rate):
    stock, ours, _ = _pair(True, **kwargs)
    ours.record_gates = True
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        expected, got = stock(x), ours(x)
    assert [o.shape for o in got] == [o.shape for o in expected]
    assert got[-1].shape[2:] == size
    maps = ours.gate_maps()
    assert list(maps) == list(range(ours.num_stages - 1))
    for level, alpha in maps.items():
        assert alpha.shape[:2] == (1, 1)
        assert alpha.shape[2:] == got[ours.num_stages - 1 - level].shape[2:]
    with pytest.raises(AssertionError, match=f'whole downsample rate {rate}'):
        ours(torch.rand(1, 3, size[0] + rate // 2, size[1]))


def test_gate_init_runs_before_a_pretrained_checkpoint(tmp_path):
    """The gates' own init must not overwrite gate weights from a Pretrained init_cfg."""
    trained = AttentionUNet(**TINY)
    _randomise(trained, seed=3)
    path = tmp_path / 'attn_unet.pth'
    torch.save(trained.state_dict(), path)
    loaded = AttentionUNet(init_cfg=dict(type='Pretrained', checkpoint=str(path)), **TINY)
    loaded.init_weights()
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


# ---------------------------------------------------------------- gate maps API
def test_gate_maps_api():
    ours = AttentionUNet(**TINY).eval()
    x = torch.rand(2, 3, *SIZE)
    with pytest.raises(RuntimeError, match='record_gates=True'):
        ours.gate_maps()
    ours.record_gates = True
    with pytest.raises(RuntimeError, match='no forward'):
        ours.gate_maps()
    with torch.no_grad():
        ours(x)
    maps = ours.gate_maps()
    assert list(maps) == [0, 1, 2, 3]
    assert [tuple(m.shape) for m in maps.values()] == [(2, 1, 48, 80), (2, 1, 24, 40),
                                                      (2, 1, 12, 20), (2, 1, 6, 10)]
    # return_gates: the same maps as recorded, but with their graph
    with torch.no_grad():
        _, live = ours(x, return_gates=True)
    recorded = ours.gate_maps()
    for k in recorded:
        assert torch.equal(recorded[k], live[k]) and not recorded[k].requires_grad
    ours.train()
    outs, live = ours(x, return_gates=True)
    assert len(outs) == 5 and all(live[k].requires_grad for k in live)
    assert all(not m.requires_grad for m in ours.gate_maps().values())
    ours.record_gates = False
    with pytest.raises(RuntimeError, match='not being recorded'):
        ours.gate_maps()  # the maps kept so far are dropped
    with pytest.raises(RuntimeError, match='attention_gates=False'):
        AttentionUNet(attention_gates=False, **TINY).gate_maps()
    # recording from the config
    recording = AttentionUNet(record_gates=True, **TINY).eval()
    with torch.no_grad():
        recording(x)
    assert list(recording.gate_maps()) == [0, 1, 2, 3]


# ---------------------------------------------------------------- options and errors
def test_gate_cfg_options():
    ours = AttentionUNet(gate_cfg=dict(hidden_channels=3), **TINY)
    assert [g.theta_x.out_channels for g in ours.gates.values()] == [3, 3, 3, 3]
    ours = AttentionUNet(gate_cfg=dict(hidden_channels=[1, 2, 3, 4]), **TINY)
    assert [g.theta_x.out_channels for g in ours.gates.values()] == [1, 2, 3, 4]
    ours = AttentionUNet(**TINY)  # default: half the skip's channels
    assert [g.theta_x.out_channels for g in ours.gates.values()] == [2, 4, 8, 16]
    ours = AttentionUNet(gate_cfg=dict(type='attnplug.AttentionGate', act_cfg='gelu'), **TINY)
    assert isinstance(ours.gates['0'].act, torch.nn.GELU)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(attention_gates=(True, ) * 5), ValueError,
     r'AttentionUNet: attention_gates has 5 entries.*num_stages=5 has 4 skip connections'),
    (dict(attention_gates=(True, 'yes', True, True)), TypeError, r'attention_gates\[1\]'),
    (dict(attention_gates='all'), TypeError, 'attention_gates must be a bool'),
    (dict(gate_cfg=dict(in_channels=8)), ValueError, "gate_cfg must not set 'in_channels'"),
    (dict(gate_cfg=dict(inter_chanels=8)), ValueError,
     r"unknown key\(s\) \['inter_chanels'\].*accepted keys"),
    (dict(gate_cfg=dict(hidden_channels=[4, 4])), ValueError,
     r"gate_cfg\['hidden_channels'\] has 2 entries, expected one per decoder level \(4"),
    (dict(gate_cfg=dict(type='NoSuchGate')), KeyError, 'NoSuchGate'),
])
def test_bad_options_fail_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        AttentionUNet(**TINY, **kwargs)


def test_with_cp_and_norm_eval():
    torch.manual_seed(0)
    plain = AttentionUNet(**TINY)
    plain.init_weights()
    ckpt = AttentionUNet(with_cp=True, **TINY)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, *SIZE, requires_grad=True)
    grads = []
    for model in (plain, ckpt):
        model.train()
        model(x)[-1].sum().backward()
        grads.append([p.grad.clone() for p in model.gates.parameters()])
        x.grad = None
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    frozen = AttentionUNet(norm_eval=True, **TINY)
    assert frozen.train() is frozen
    assert all(not m.training for m in frozen.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


def test_registered_and_built_from_any_scope():
    assert MODELS.get('AttentionUNet') is AttentionUNet
    from mmseg.registry import MODELS as MMSEG_MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert type(MMSEG_MODELS.build(dict(type='attnplug.AttentionUNet', **TINY))) \
            is AttentionUNet
    with DefaultScope.overwrite_default_scope('mmdet'):  # InterpConv is mmseg's
        AttentionUNet(**TINY)


# ---------------------------------------------------------------- mmseg configs
def _segmentor(cfg):
    from mmseg.registry import MODELS as MMSEG_MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MMSEG_MODELS.build(cfg.model)


def test_mmseg_unet_cityscapes_config_with_the_backbone_switched(tmp_path):
    path = tmp_path / 'attn_unet_cityscapes.py'
    path.write_text(textwrap.dedent("""
        _base_ = ['mmseg::unet/unet-s5-d16_fcn_4xb4-160k_cityscapes-512x1024.py']
        norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN is reverted only by the runner
        model = dict(
            backbone=dict(type='attnplug.AttentionUNet', norm_cfg=norm_cfg),
            decode_head=dict(norm_cfg=norm_cfg),
            auxiliary_head=dict(norm_cfg=norm_cfg))
    """))
    cfg = Config.fromfile(str(path))
    model = _segmentor(cfg)
    assert type(model.backbone) is AttentionUNet
    assert model.backbone.base_channels == 64 and len(model.backbone.gates) == 4
    model.init_weights()
    model.eval()
    from mmseg.structures import SegDataSample
    x = torch.rand(1, 3, 64, 64) * 255
    sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                         pad_shape=(64, 64)))
    with torch.no_grad():
        pred = model.predict(x, [sample])
    assert pred[0].pred_sem_seg.data.shape == (1, 64, 64)
    assert pred[0].seg_logits.data.shape == (19, 64, 64)


# ---------------------------------------------------------------- this project's configs
UNET_CONFIGS = [
    'configs/attention_unet/attn-unet-s5-d16_fcn_4xb4-160k_cityscapes-512x1024.py',
    'configs/attention_unet/attn-unet-s5-d16_fcn_4xb4-40k_voc12aug-512x512.py',
    'configs/attention_unet/attn-unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py',
    'configs/unet/unet-s5-d16_fcn_4xb4-40k_voc12aug-512x512.py',
    'configs/unet/unet-s5-d16_fcn_1xb4-300iter_cityscapes-bundled-128x256.py',
]


@pytest.mark.parametrize('rel', UNET_CONFIGS)
def test_project_unet_configs_build(rel):
    cfg = Config.fromfile(str(ROOT / rel))
    text = (ROOT / rel).read_text()
    assert 'import ' not in text.replace('custom_imports', '')
    has_attnplug_type = 'attnplug.' in text
    assert ('custom_imports' in text) != has_attnplug_type
    cfg.model.pretrained = None
    cfg.model.backbone.init_cfg = None
    model = _segmentor(cfg)
    expected = AttentionUNet if 'attention_unet' in rel else UNet
    assert type(model.backbone) is expected
    num_classes = 21 if 'voc' in rel else 19
    assert model.decode_head.num_classes == model.auxiliary_head.num_classes == num_classes
    assert cfg.model.test_cfg.mode == 'whole'
    if 'bundled' not in rel:
        return
    # the bundled configs: BN, narrow, and a training step on one crop
    assert model.backbone.base_channels == 16
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    model.train()
    sample = SegDataSample(metainfo=dict(img_shape=(128, 256), ori_shape=(128, 256),
                                         pad_shape=(128, 256)))
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, 128, 256)))
    inputs = [torch.randint(0, 256, (3, 128, 256), dtype=torch.uint8)]
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=[sample]), True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    if expected is AttentionUNet:
        assert all(p.grad is not None for p in model.backbone.gates.parameters())
