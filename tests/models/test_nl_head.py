"""attnplug.NLHead against mmseg's NLHead (mmcv's NonLocal2d): same keys, outputs,
predictions and losses; the attention in bounded memory."""
import importlib

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.decode_heads import NLHead as MMSegNLHead
from mmseg.structures import SegDataSample

from attnplug.layers import NonLocal2d
from attnplug.models.decode_heads import NLHead
from attnplug.testing import largest_tensor, randomise

flash_module = importlib.import_module('attnplug.functional.flash_attention')
IN, CH, CLS = 8, 16, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))


def _pair(**kwargs):
    ref_kwargs = {k: v for k, v in kwargs.items() if k not in ('memory_budget', 'block_size')}
    ref = randomise(MMSegNLHead(**KWARGS, **ref_kwargs))
    ours = NLHead(**KWARGS, **kwargs)
    result = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize('size', [(23, 23), (23, 31)])
@pytest.mark.parametrize('mode,use_scale', [('embedded_gaussian', True),
                                            ('embedded_gaussian', False),
                                            ('dot_product', True), ('gaussian', True)])
def test_forward_and_predict_match_mmseg(size, mode, use_scale):
    ref, ours = _pair(mode=mode, use_scale=use_scale)
    assert type(ours.nl_block) is NonLocal2d and ours.nl_block.inter_channels == CH // 2
    ref.eval(), ours.eval()
    inputs = [torch.randn(2, IN, *size)]
    with torch.no_grad():
        out = ours(inputs)
        assert out.shape == (2, CLS, *size)
        torch.testing.assert_close(out, ref(inputs), atol=1e-4, rtol=0)
        metas = [dict(img_shape=(45, 61))] * 2
        torch.testing.assert_close(ours.predict(inputs, metas, test_cfg={}),
                                   ref.predict(inputs, metas, test_cfg={}), atol=1e-4, rtol=0)


def test_loss_matches_mmseg_in_training_mode_and_gradients_flow():
    ref, ours = _pair()
    ref.train(), ours.train()
    inputs = [torch.randn(2, IN, 23, 31)]
    gen = torch.Generator().manual_seed(0)
    samples = [SegDataSample(gt_sem_seg=PixelData(
        data=torch.randint(0, CLS, (1, 45, 61), generator=gen))) for _ in range(2)]
    torch.manual_seed(1)
    expected = ref.loss(inputs, samples, train_cfg={})
    torch.manual_seed(1)
    got = ours.loss(inputs, samples, train_cfg={})
    assert set(got) == set(expected) == {'loss_ce', 'acc_seg'}
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-4, rtol=0)
    got['loss_ce'].backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('mode', ['embedded_gaussian', 'dot_product', 'gaussian'])
def test_no_n_by_n_map(mode):
    """No op of the head returns N×N elements (mmcv's block does): embedded Gaussian takes
    the fused SDPA kernel, dot product the O(N) reassociation, Gaussian 40-row blocks."""
    b, (h, w) = 1, (23, 31)
    n = h * w
    ref, ours = _pair(mode=mode, memory_budget=4 * b * n * 40)
    ref.eval(), ours.eval()
    inputs = [torch.randn(b, IN, h, w)]
    with torch.no_grad():
        with largest_tensor() as probe:
            got = ours(inputs)
        assert probe.largest < n * n
        with largest_tensor() as probe:
            expected = ref(inputs)
        assert probe.largest >= n * n
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_block_size_reaches_the_attention(monkeypatch):
    """Gaussian mode (key width C, value width C/2): query blocks of ``block_size`` rows."""
    blocks = []
    block = flash_module._forward_block
    monkeypatch.setattr(flash_module, '_forward_block',
                        lambda qb, *a, **k: blocks.append(qb.shape[-2]) or block(qb, *a, **k))
    ref, ours = _pair(mode='gaussian', block_size=64)
    ref.eval(), ours.eval()
    inputs = [torch.randn(1, IN, 23, 23)]
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)
    assert blocks == [64] * 8 + [23 * 23 - 8 * 64]


def test_num_convs_other_than_two_is_refused():
    assert NLHead(num_convs=2, **KWARGS).num_convs == 2  # an FCNHead config switches by type
    with pytest.raises(ValueError, match='NLHead: num_convs must be 2'):
        NLHead(num_convs=1, **KWARGS)
