"""attnplug.DNLHead against mmseg's DNLHead (its DisentangledNonLocal2d on mmcv's NonLocal2d):
same keys, outputs, predictions and losses in every mode; no N×N map; ONNX export."""

import pytest
import torch
from mmseg.models.decode_heads import DNLHead as MMSegDNLHead

from attnplug.models.decode_heads import DNLHead
from attnplug.models.decode_heads.dnl_head import DisentangledNonLocal2d
from attnplug.testing import (assert_head_loss_matches, assert_head_matches,
                              assert_head_onnx_parity, largest_tensor, mmseg_head_pair,
                              randomise)

IN, CH, CLS = 8, 16, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))
MODES = ['embedded_gaussian', 'dot_product', 'gaussian', 'concatenation']


def _pair(**kwargs):
    return mmseg_head_pair(DNLHead, MMSegDNLHead, **KWARGS, **kwargs)


@pytest.mark.parametrize('size', [(23, 23), (23, 31)])
@pytest.mark.parametrize('mode,use_scale', [('embedded_gaussian', True),
                                            ('embedded_gaussian', False),
                                            ('dot_product', True), ('gaussian', True),
                                            ('concatenation', True)])
def test_forward_and_predict_match_mmseg(size, mode, use_scale):
    ref, ours = _pair(mode=mode, use_scale=use_scale)
    assert type(ours.dnl_block) is DisentangledNonLocal2d
    assert ours.dnl_block.inter_channels == CH // 2 and ours.dnl_block.temperature == 0.05
    assert_head_matches(ref, ours, [torch.randn(2, IN, *size)], CLS)


@pytest.mark.parametrize('temperature', [0.05, 1.0])
def test_block_alone_matches_and_its_terms_matter(temperature):
    """The block equals mmseg's on random weights; zeroing its unary conv or moving the
    temperature changes the output (the comparison sees both terms)."""
    ref, ours = _pair(temperature=temperature)
    ref.eval(), ours.eval()
    x = torch.randn(2, CH, 11, 13)
    with torch.no_grad():
        expected = ref.dnl_block(x.clone())  # mmseg's block writes into views of its input
        torch.testing.assert_close(ours.dnl_block(x), expected, atol=1e-5, rtol=0)
        ours.dnl_block.conv_mask.weight.mul_(3.0)
        assert (ours.dnl_block(x) - expected).abs().max() > 1e-3
        ours.dnl_block.conv_mask.weight.div_(3.0)
        ours.dnl_block.temperature = temperature * 2
        assert (ours.dnl_block(x) - expected).abs().max() > 1e-3


def test_loss_matches_mmseg_in_training_mode_and_gradients_flow():
    ref, ours = _pair()
    assert_head_loss_matches(ref, ours, [torch.randn(2, IN, 23, 31)], CLS)
    # BN statistics, conv_out's included
    for (name, a), b in zip(ours.named_buffers(), ref.buffers()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=name)


def test_gaussian_mode_trains_where_mmsegs_in_place_centring_fails():
    """The documented departure: same forward values; mmseg's backward fails because its
    block centres the (in-place ReLU) input in place."""
    ref, ours = _pair(mode='gaussian')
    ref.train(), ours.train()
    inputs = [torch.randn(2, IN, 9, 11)]
    torch.manual_seed(1)  # the same dropout mask
    got = ours(inputs)
    torch.manual_seed(1)
    torch.testing.assert_close(got, ref(inputs), atol=1e-4, rtol=0)
    got.square().mean().backward()
    assert all(p.grad is not None for p in ours.dnl_block.parameters() if p.requires_grad)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        ref(inputs).square().mean().backward()


@pytest.mark.parametrize('mode', MODES)
def test_no_n_by_n_map(mode):
    """No op of the head returns N×N elements (mmseg's block does): embedded Gaussian takes
    the fused SDPA kernel, dot product the O(N) reassociation, Gaussian 40-row blocks,
    concatenation sorted suffix sums."""
    b, (h, w) = 1, (23, 31)
    n = h * w
    ref, ours = _pair(mode=mode, memory_budget=4 * b * n * 40)
    ref.eval(), ours.eval()
    inputs = [torch.randn(b, IN, h, w)]
    with torch.no_grad():
        with largest_tensor() as probe:
            got = ours(inputs)
        assert probe.largest < n * n, (probe.op, probe.largest)
        with largest_tensor() as probe:
            expected = ref(inputs)
        assert probe.largest >= n * n
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_no_n_by_n_map_in_training_either():
    b, (h, w) = 2, (17, 19)
    n = h * w
    _, ours = _pair(memory_budget=4 * b * n * 40)
    ours.train()
    with largest_tensor() as probe:
        ours([torch.randn(b, IN, h, w)]).square().mean().backward()
    assert probe.largest < n * n, (probe.op, probe.largest)


def test_concatenation_ties_and_signs():
    """The suffix-sum form of ReLU(α_i + β_j): all-positive, all-negative and mixed rows."""
    block = randomise(DisentangledNonLocal2d(6, mode='concatenation')).eval()
    x = torch.randn(2, 6, 5, 7)
    c = block.inter_channels
    for weight in (torch.ones(2 * c), -torch.ones(2 * c), torch.randn(2 * c)):
        block.concat_project.conv.weight.data.copy_(weight.view(1, 2 * c, 1, 1))
        _, q, k, v = block._whitened(x)
        w_q, w_k = weight.split(c)
        dense = ((q @ w_q).unsqueeze(-1) + (k @ w_k).unsqueeze(1)).relu() / k.shape[1]
        torch.testing.assert_close(block._concatenation(q, k, v), dense @ v, atol=1e-5,
                                   rtol=0)


@pytest.mark.parametrize('mode', MODES)
def test_onnx_export_matches_onnxruntime(mode):
    pytest.importorskip('onnxruntime')
    _, ours = _pair(mode=mode)
    assert_head_onnx_parity(ours, torch.randn(1, IN, 23, 31))


def test_errors_match_mmseg():
    with pytest.raises(ValueError):
        MMSegDNLHead(**KWARGS, mode='cosine')
    with pytest.raises(ValueError, match="DisentangledNonLocal2d: mode must be one of"):
        DNLHead(**KWARGS, mode='cosine')
    assert DNLHead(num_convs=2, **KWARGS).num_convs == 2
    with pytest.raises(ValueError, match='DNLHead: num_convs must be 2'):
        DNLHead(num_convs=1, **KWARGS)
