"""attnplug.NLHead against mmseg's NLHead (mmcv's NonLocal2d): same keys, outputs,
predictions and losses; the attention in bounded memory."""
import importlib

import pytest
import torch
from mmseg.models.decode_heads import DNLHead as MMSegDNLHead
from mmseg.models.decode_heads import NLHead as MMSegNLHead

from attnplug.layers import NonLocal2d
from attnplug.models.decode_heads import DNLHead, NLHead
from attnplug.testing import (assert_head_loss_matches, assert_head_matches, largest_tensor,
                              mmseg_head_pair)

flash_module = importlib.import_module('attnplug.functional.flash_attention')
IN, CH, CLS = 8, 16, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))


def _pair(**kwargs):
    return mmseg_head_pair(NLHead, MMSegNLHead, **KWARGS, **kwargs)


@pytest.mark.parametrize('size', [(23, 23), (23, 31)])
@pytest.mark.parametrize('mode,use_scale', [('embedded_gaussian', True),
                                            ('embedded_gaussian', False),
                                            ('dot_product', True), ('gaussian', True)])
def test_forward_and_predict_match_mmseg(size, mode, use_scale):
    ref, ours = _pair(mode=mode, use_scale=use_scale)
    assert type(ours.nl_block) is NonLocal2d and ours.nl_block.inter_channels == CH // 2
    assert_head_matches(ref, ours, [torch.randn(2, IN, *size)], CLS)


def test_loss_matches_mmseg_in_training_mode_and_gradients_flow():
    assert_head_loss_matches(*_pair(), [torch.randn(2, IN, 23, 31)], CLS)


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


@pytest.mark.parametrize('heads', [(NLHead, MMSegNLHead), (DNLHead, MMSegDNLHead)],
                         ids=['NLHead', 'DNLHead'])
def test_block_size_reaches_the_attention(monkeypatch, heads):
    """Gaussian mode (key width C, value width C/2): query blocks of ``block_size`` rows, in
    NLHead's block and in DNLHead's (the same attention under its disentangled terms)."""
    blocks = []
    block = flash_module._forward_block
    monkeypatch.setattr(flash_module, '_forward_block',
                        lambda qb, *a, **k: blocks.append(qb.shape[-2]) or block(qb, *a, **k))
    ref, ours = mmseg_head_pair(*heads, **KWARGS, mode='gaussian', block_size=64)
    ref.eval(), ours.eval()
    inputs = [torch.randn(1, IN, 23, 23)]
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)
    assert blocks == [64] * 8 + [23 * 23 - 8 * 64]


def test_num_convs_other_than_two_is_refused():
    assert NLHead(num_convs=2, **KWARGS).num_convs == 2  # an FCNHead config switches by type
    with pytest.raises(ValueError, match='NLHead: num_convs must be 2'):
        NLHead(num_convs=1, **KWARGS)
