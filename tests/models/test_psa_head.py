"""attnplug.PSAHead (pure PyTorch) against mmseg's PSAHead (mmcv's compiled PSAMask op): same
keys, outputs and losses for every psa_type and compact mode; ONNX export without a custom
op; the N×N map only one block at a time."""

import pytest
import torch
from mmseg.models.decode_heads import PSAHead as MMSegPSAHead

from attnplug.functional.point_wise_spatial_attention import (grid_positions,
                                                              point_wise_spatial_attention,
                                                              psa_window_index)
from attnplug.models.decode_heads import PSAHead
from attnplug.testing import (assert_head_loss_matches, assert_head_onnx_parity, largest_tensor,
                              mmseg_head_pair)

IN, CH, CLS = 6, 4, 5
KWARGS = dict(in_channels=IN, channels=CH, num_classes=CLS, norm_cfg=dict(type='BN'))


def _pair(**kwargs):
    return mmseg_head_pair(PSAHead, MMSegPSAHead, **KWARGS, **kwargs)


# (input size, mask size): the mask covering the map (as mmseg's configs), a mask smaller
# than the map (windows clipped inside it), even and odd sizes (both shrink rules of mmseg)
CASES = [((13, 13), (13, 13)), ((15, 21), (15, 21)), ((14, 18), (9, 7)), ((13, 17), (5, 8))]


@pytest.mark.parametrize('psa_type', ['bi-direction', 'collect', 'distribute'])
@pytest.mark.parametrize('size,mask_size', CASES)
@pytest.mark.parametrize('shrink_factor', [1, 2])
def test_forward_matches_mmseg(psa_type, size, mask_size, shrink_factor):
    ref, ours = _pair(psa_type=psa_type, mask_size=mask_size, shrink_factor=shrink_factor)
    ref.eval(), ours.eval()
    inputs = [torch.randn(2, IN, *size)]
    with torch.no_grad():
        out = ours(inputs)
        assert out.shape == (2, CLS, *size)
        torch.testing.assert_close(out, ref(inputs), atol=1e-4, rtol=0)


@pytest.mark.parametrize('psa_type', ['bi-direction', 'collect', 'distribute'])
@pytest.mark.parametrize('psa_softmax,normalization_factor', [(True, 1.0), (False, None)])
def test_compact_and_softmax_options_match_mmseg(psa_type, psa_softmax, normalization_factor):
    # compact: the conv predicts the (h·w)×(h·w) map itself; 13×13 shrinks to 7×7 = 49
    ref, ours = _pair(psa_type=psa_type, mask_size=(7, 7), compact=True,
                      psa_softmax=psa_softmax, normalization_factor=normalization_factor)
    ref.eval(), ours.eval()
    inputs = [torch.randn(2, IN, 13, 13)]
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)
    ref, ours = _pair(psa_type=psa_type, mask_size=(13, 13), psa_softmax=psa_softmax,
                      normalization_factor=normalization_factor)
    ref.eval(), ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)


def test_gather_equals_mmcv_psamask_op():
    """The pure-PyTorch gather against mmcv's PSAMask op directly, collect and distribute."""
    from mmcv.ops import PSAMask
    gen = torch.Generator().manual_seed(0)
    for (h, w), mask in [((5, 7), (9, 13)), ((6, 4), (5, 3)), ((4, 5), (4, 6))]:
        m = torch.randn(2, mask[0] * mask[1], h, w, generator=gen)
        x = torch.randn(2, 3, h, w, generator=gen)
        for kind in ('collect', 'distribute'):
            y = PSAMask(kind, mask)(m).view(2, h * w, h * w)
            expected = torch.bmm(x.view(2, 3, h * w), y).view(2, 3, h, w)
            got = point_wise_spatial_attention(x, m, kind, mask, softmax=False)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
            # the index itself: the map the op writes, gathered in one piece
            grid = grid_positions(h, w)
            index, inside = psa_window_index(grid, grid, mask)
            dense = m.flatten(2).gather(1, index.expand(2, -1, -1)).masked_fill(~inside, 0)
            torch.testing.assert_close(dense if kind == 'collect' else dense.transpose(1, 2),
                                       y, atol=0, rtol=0)


@pytest.mark.parametrize('block_size', [1, 7, None])
def test_blocks_give_the_same_result(block_size):
    ref, ours = _pair(mask_size=(15, 21), block_size=block_size)
    ref.eval(), ours.eval()
    inputs = [torch.randn(1, IN, 15, 21)]
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs), ref(inputs), atol=1e-4, rtol=0)


def test_loss_matches_mmseg_in_training_mode_and_gradients_flow():
    ref, ours = _pair(mask_size=(13, 17), block_size=20)  # blocks recomputed in backward
    assert_head_loss_matches(ref, ours, [torch.randn(2, IN, 13, 17)], CLS, label_shape=(25, 33),
                             compare_grads=True)


def test_n_by_n_map_only_in_blocks():
    """mmseg scatters each branch into an N×N map (N = h·w of the shrunk map); here the
    largest tensor is the over-complete map the attention conv predicts (K·N values, K the
    mask's size), which is PSANet's design and the same in mmseg."""
    h, w, mask = 23, 31, (23, 31)
    n_small = 12 * 16  # the 2× shrunk map
    k = mask[0] * mask[1]
    ref, ours = _pair(mask_size=mask, memory_budget=n_small * 17 * 4)  # 4 columns a block
    ref.eval(), ours.eval()
    inputs = [torch.randn(1, IN, h, w)]
    with torch.no_grad():
        with largest_tensor() as probe:
            got = ours(inputs)
        ours_largest = probe.largest
        with largest_tensor() as probe:
            expected = ref(inputs)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert ours_largest == k * n_small  # the over-complete map, nothing larger
    assert probe.largest == k * n_small
    # what the N×N map costs there and not here: mmseg's op outputs are (1, N, h, w)
    ours_ops, ref_ops = [], []
    for model, seen in ((ours, ours_ops), (ref, ref_ops)):
        from torch.utils._python_dispatch import TorchDispatchMode

        class Shapes(TorchDispatchMode):

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if isinstance(out, torch.Tensor):
                    seen.append(out.numel())
                return out

        with torch.no_grad(), Shapes():
            model(inputs)
    assert ref_ops.count(n_small * n_small) >= 2  # two scattered maps (bi-direction)
    assert n_small * n_small not in ours_ops


@pytest.mark.parametrize('psa_type,compact', [('bi-direction', False), ('collect', False),
                                              ('distribute', False), ('collect', True)])
def test_onnx_export_matches_onnxruntime_without_custom_ops(psa_type, compact):
    pytest.importorskip('onnxruntime')
    import onnx
    mask = (7, 9) if compact else (13, 17)
    _, ours = _pair(psa_type=psa_type, compact=compact, mask_size=mask)
    model = onnx.load_from_string(assert_head_onnx_parity(ours, torch.randn(1, IN, 13, 17)))
    domains = {node.domain for node in model.graph.node}
    assert domains <= {'', 'ai.onnx'}, domains  # standard operators only


def test_errors_match_mmseg():
    for cls in (MMSegPSAHead, PSAHead):
        with pytest.raises(AssertionError):
            cls(**KWARGS, mask_size=(5, 5), psa_type='gather')
    with pytest.raises(AssertionError, match="PSAHead: psa_type must be one of"):
        PSAHead(**KWARGS, mask_size=(5, 5), psa_type='gather')
    # compact needs mask_h * mask_w == h * w of the shrunk map: mmseg's view fails
    inputs = [torch.randn(1, IN, 13, 13)]
    for cls in (MMSegPSAHead, PSAHead):
        head = cls(**KWARGS, mask_size=(5, 5), psa_type='collect', compact=True).eval()
        with pytest.raises(RuntimeError):
            head(inputs)
    with pytest.raises(RuntimeError, match='mask_h \\* mask_w = 49'):
        PSAHead(**KWARGS, mask_size=(5, 5), psa_type='collect', compact=True).eval()(inputs)
