"""Tests of attnplug.layers.context_block (GlobalContextBlock) against mmcv's ContextBlock."""
import pytest
import torch

from attnplug.layers import GlobalContextBlock
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_identity_at_init,
                              assert_onnx_parity, assert_shape_preserved, perturb)


C = 32
CONFIGS = [
    dict(pooling_type='att', fusion_types=('channel_add', )),
    dict(pooling_type='avg', fusion_types=('channel_add', )),
    dict(pooling_type='att', fusion_types=('channel_mul', )),
    dict(pooling_type='avg', fusion_types=('channel_add', 'channel_mul')),
]


def naive_gc(m, x):
    """Eq. 3 of arXiv 1904.11492 written out per image."""
    b, c, h, w = x.shape
    if m.pooling_type == 'att':
        logits = torch.einsum('bchw,c->bhw', x, m.conv_mask.weight[0, :, 0, 0])
        a = (logits + m.conv_mask.bias).flatten(1).softmax(-1)
        context = torch.einsum('bcn,bn->bc', x.flatten(2), a)[..., None, None]
    else:
        context = x.mean((2, 3), keepdim=True)
    out = x
    if m.channel_mul_conv is not None:
        out = out * m.channel_mul_conv(context).sigmoid()
    if m.channel_add_conv is not None:
        out = out + m.channel_add_conv(context)
    return out


@pytest.mark.parametrize('cfg', CONFIGS)
def test_matches_mmcv_with_copied_weights(cfg):
    from mmcv.cnn import ContextBlock
    ref = perturb(ContextBlock(C, ratio=1. / 4, **cfg)).eval()
    ours = GlobalContextBlock(in_channels=C, ratio=1. / 4, **cfg).eval()
    ours.load_state_dict(ref.state_dict())  # strict: same keys and shapes
    for size in ((23, 31), (1, 5)):
        x = torch.randn(2, C, *size)
        with torch.no_grad():
            expected = ref(x)
            assert (expected - x).abs().max() > 1e-2
            torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=0)
            torch.testing.assert_close(ours(x), naive_gc(ours, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('cfg', CONFIGS)
def test_contract(cfg):
    m = perturb(GlobalContextBlock(C, **cfg))
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)
    if cfg['fusion_types'] == ('channel_add', ):
        assert_identity_at_init(m, C)  # init_weights() restores the identity
    else:  # x * sigmoid(0) = x / 2 at init, as in the paper and mmcv
        x = torch.randn(1, C, 5, 5)
        m.init_weights()
        with torch.no_grad():
            torch.testing.assert_close(m(x), x / 2)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    cfg = dict(pooling_type='att', fusion_types=('channel_add', 'channel_mul'))
    assert_onnx_parity(perturb(GlobalContextBlock(C, **cfg)).eval(), C)


def test_build_plugin_layer_and_resnet_position():
    from mmcv.cnn import build_plugin_layer
    from mmdet.models.backbones import ResNet
    name, layer = build_plugin_layer(dict(type='attnplug.GlobalContextBlock', ratio=1. / 16),
                                     postfix=3, in_channels=C)
    assert name == 'context_block3' and isinstance(layer, GlobalContextBlock)
    assert layer.planes == 2

    backbone = ResNet(depth=50, base_channels=4, out_indices=(1, 2, 3), plugins=[
        dict(cfg=dict(type='attnplug.GlobalContextBlock', ratio=1. / 4),
             stages=(False, True, True, True), position='after_conv3')])
    backbone.init_weights()
    blocks = [m for m in backbone.modules() if isinstance(m, GlobalContextBlock)]
    assert len(blocks) == 4 + 6 + 3
    assert {b.in_channels for b in blocks} == {32, 64, 128}  # planes * expansion
    assert all((b.channel_add_conv[-1].weight == 0).all() for b in blocks)
    outs = backbone(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64, 128]


def test_bad_arguments():
    with pytest.raises(ValueError, match='pooling_type'):
        GlobalContextBlock(C, pooling_type='max')
    with pytest.raises(ValueError, match='fusion_types'):
        GlobalContextBlock(C, fusion_types=())
