"""attnplug.AttnFCNHead: mmseg's FCNHead without attn_cfg, an attnplug plugin after the first
conv with it, and build errors that say what to fix."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.decode_heads import FCNHead
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

from attnplug.layers import CBAM, NonLocal2d, SqueezeExcitation
from attnplug.models.decode_heads import AttnFCNHead
from attnplug.models.plugins import error_text
from attnplug.testing import randomise

IN, CH, CLS = 8, 16, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))


def _build(**kwargs):
    register_all_modules(init_default_scope=True)
    return MMSEG_MODELS.build(dict(type='attnplug.AttnFCNHead', **KWARGS, **kwargs))


@pytest.mark.parametrize('num_convs,concat_input', [(2, True), (1, False), (3, True), (0, False)])
def test_without_attention_it_is_mmseg_fcn_head(num_convs, concat_input):
    kwargs = dict(KWARGS, num_convs=num_convs, concat_input=concat_input)
    if num_convs == 0:
        kwargs['in_channels'] = CH
    ref = randomise(FCNHead(**kwargs))
    ours = AttnFCNHead(attn_cfg=None, **kwargs)
    assert ours.attn is None
    result = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.eval(), ours.eval()
    for size in ((23, 23), (23, 31)):
        inputs = [torch.randn(2, kwargs['in_channels'], *size)]
        with torch.no_grad():
            torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)
            metas = [dict(img_shape=(45, 61))] * 2
            torch.testing.assert_close(ours.predict(inputs, metas, {}),
                                       ref.predict(inputs, metas, {}), atol=1e-4, rtol=0)


@pytest.mark.parametrize('attn_cfg,cls', [(dict(type='attnplug.CBAM'), CBAM),
                                          (dict(type='attnplug.SqueezeExcitation'),
                                           SqueezeExcitation),
                                          (dict(type='SqueezeExcitation', reduction=4),
                                           SqueezeExcitation),
                                          (dict(type='NonLocal2d'), NonLocal2d)])
def test_plugin_sits_after_the_first_conv(attn_cfg, cls):
    head = randomise(_build(attn_cfg=attn_cfg))
    assert type(head) is AttnFCNHead and type(head.attn) is cls
    assert head.attn.in_channels == CH and head.attn_cfg == attn_cfg
    seen = []
    head.convs[0].register_forward_hook(lambda m, i, o: seen.append(('conv0', o)))
    head.attn.register_forward_pre_hook(lambda m, i: seen.append(('attn', i[0])))
    head.attn.register_forward_hook(lambda m, i, o: seen.append(('attn_out', o)))
    head.convs[1].register_forward_pre_hook(lambda m, i: seen.append(('conv1', i[0])))
    head.eval()
    with torch.no_grad():
        out = head([torch.randn(2, IN, 23, 31)])
    assert out.shape == (2, CLS, 23, 31)
    assert [name for name, _ in seen] == ['conv0', 'attn', 'attn_out', 'conv1']
    assert seen[0][1] is seen[1][1] and seen[2][1] is seen[3][1]


def test_fcn_weights_load_into_the_plugged_head_and_gradients_flow():
    """The FCN part keeps FCNHead's keys; only the plugin's ``attn.*`` keys are new."""
    ref = randomise(FCNHead(**KWARGS))
    ours = AttnFCNHead(attn_cfg=dict(type='attnplug.CBAM', reduction=4), **KWARGS)
    result = ours.load_state_dict(ref.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(k.startswith('attn.') for k in result.missing_keys)
    ours.train()
    gen = torch.Generator().manual_seed(0)
    samples = [SegDataSample(gt_sem_seg=PixelData(
        data=torch.randint(0, CLS, (1, 45, 61), generator=gen))) for _ in range(2)]
    losses = ours.loss([torch.randn(2, IN, 23, 31)], samples, train_cfg={})
    assert set(losses) == {'loss_ce', 'acc_seg'}
    losses['loss_ce'].backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in ours.attn.parameters())


@pytest.mark.parametrize('attn_cfg,error,fragment', [
    (dict(type='attnplug.NoSuchAttention'), KeyError, 'NoSuchAttention'),
    (dict(type='NoSuchAttention'), KeyError, 'NoSuchAttention'),
    (dict(type='attnplug.CBAM', in_channels=CH * 2), ValueError, f'given {CH * 2}'),
    (dict(type='attnplug.SKConv'), TypeError, 'out_channels'),
    (dict(type='attnplug.CBAM', spatial_kernel=4), ValueError, 'spatial_kernel'),
    (dict(reduction=4), TypeError, "'type'"),
])
def test_bad_attn_cfg_fails_at_build_naming_head_key_and_channels(attn_cfg, error, fragment):
    with pytest.raises(error) as info:
        _build(attn_cfg=attn_cfg)
    message = error_text(info.value)  # the message and the note on where it was being built
    for part in ('AttnFCNHead', 'attn_cfg', f'{CH}', fragment):
        assert part in message, (part, message)


def test_a_build_error_keeps_its_own_class_and_traceback():
    """The head adds its name and key to the error of the attention's own constructor, and
    re-raises that same exception: an exception class whose constructor takes other
    arguments than a message comes through intact (rebuilding it would fail)."""
    from attnplug.registry import MODELS

    class OddError(ValueError):
        def __init__(self, code, detail):
            super().__init__(f'code {code}: {detail}')
            self.code = code

    class Refusing(torch.nn.Module):
        def __init__(self, in_channels):
            raise OddError(7, 'refused')

    MODELS.register_module('TestRefusingAttention', module=Refusing, force=True)
    try:
        with pytest.raises(OddError) as info:
            _build(attn_cfg=dict(type='attnplug.TestRefusingAttention'))
    finally:
        MODELS._module_dict.pop('TestRefusingAttention')
    assert info.value.code == 7
    message = error_text(info.value)
    for part in ('AttnFCNHead', 'attn_cfg', f'in_channels={CH}', 'code 7: refused'):
        assert part in message, (part, message)
    assert info.traceback[-1].name == '__init__'  # raised where the attention refused
