"""attnplug.DAHead against mmseg's DAHead: same keys, outputs, predictions and losses; the
position attention in bounded memory."""
import importlib

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.models.decode_heads import DAHead as MMSegDAHead
from mmseg.structures import SegDataSample

from attnplug.layers import ChannelAttention, PositionAttention
from attnplug.models.decode_heads import DAHead
from attnplug.testing import largest_tensor, randomise

flash_module = importlib.import_module('attnplug.functional.flash_attention')
IN, CH, PAM, CLS = 8, 16, 4, 5
KWARGS = dict(in_channels=IN, channels=CH, pam_channels=PAM, num_classes=CLS,
              norm_cfg=dict(type='BN'), dropout_ratio=0.1)


def _pair(**extra):
    ref = randomise(MMSegDAHead(**KWARGS))
    ours = DAHead(**KWARGS, **extra)
    result = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ref, ours


def _samples(batch, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(batch):
        label = torch.randint(0, CLS, (1, *size), generator=gen)
        label[:, :3] = 255  # an ignored band
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=label)))
    return samples


def test_state_dict_keys_are_mmseg_keys():
    ref, ours = _pair()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert isinstance(ours.pam, PositionAttention) and isinstance(ours.cam, ChannelAttention)
    assert ours.pam.channels == PAM and ours.pam_channels == PAM


@pytest.mark.parametrize('size', [(23, 23), (23, 31)])
def test_forward_and_predict_match_mmseg(size):
    ref, ours = _pair()
    ref.eval(), ours.eval()
    inputs = [torch.randn(2, IN, *size)]
    with torch.no_grad():
        expected, got = ref(inputs), ours(inputs)
        assert len(got) == 3
        for e, g in zip(expected, got):  # pam_cam, pam, cam
            assert g.shape == (2, CLS, *size)
            torch.testing.assert_close(g, e, atol=1e-4, rtol=0)
        metas = [dict(img_shape=(45, 61), pad_shape=(47, 63))] * 2
        pred = ours.predict(inputs, metas, test_cfg={})
        assert pred.shape == (2, CLS, 47, 63)
        torch.testing.assert_close(pred, ref.predict(inputs, metas, test_cfg={}), atol=1e-4,
                                   rtol=0)


def test_losses_match_mmseg_in_training_mode_and_gradients_flow():
    """Train mode: BN on batch statistics and the same dropout masks for the same seed."""
    ref, ours = _pair()
    ref.train(), ours.train()
    inputs = [torch.randn(2, IN, 23, 31)]
    samples = _samples(2, (45, 61))
    torch.manual_seed(1)
    expected = ref.loss(inputs, samples, train_cfg={})
    torch.manual_seed(1)
    got = ours.loss(inputs, samples, train_cfg={})
    assert set(got) == set(expected) == {
        f'{p}.{k}' for p in ('pam_cam', 'pam', 'cam') for k in ('loss_ce', 'acc_seg')}
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-4, rtol=0)
    sum(v for k, v in got.items() if 'loss' in k).backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert ours.pam.gamma.scale.grad.abs() > 0 and ours.cam.gamma.scale.grad.abs() > 0


def test_position_attention_is_chunked_under_a_small_budget(monkeypatch):
    """A budget of 40 query rows at N = 23·31 = 713: the blocked attention runs 40-row
    blocks, no tensor of N×N elements, and still mmseg's outputs."""
    from attnplug.functional import FlashAttentionFunction
    b, (h, w) = 2, (23, 31)
    n, rows = h * w, 40
    ref, ours = _pair(memory_budget=4 * b * n * rows)
    ref.eval(), ours.eval()
    blocks = []
    real = FlashAttentionFunction.apply

    def counting(*args):
        blocks.append(args[8])  # query rows per block
        return real(*args)

    monkeypatch.setattr(FlashAttentionFunction, 'apply', counting)
    inputs = [torch.randn(b, IN, h, w)]
    with torch.no_grad():
        expected = ref(inputs)
        with largest_tensor() as probe:
            got = ours(inputs)
    assert blocks == [rows]
    assert probe.largest <= b * rows * n < n * n
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-4, rtol=0)

    # The probe does see an N×N map: mmseg's PAM builds one.
    with torch.no_grad(), largest_tensor() as probe:
        ref(inputs)
    assert probe.largest >= b * n * n


def test_block_size_overrides_the_budget(monkeypatch):
    ref, ours = _pair(block_size=100)
    ref.eval(), ours.eval()
    blocks = []
    block = flash_module._forward_block
    monkeypatch.setattr(flash_module, '_forward_block',
                        lambda qb, *a, **k: blocks.append(qb.shape[-2]) or block(qb, *a, **k))
    inputs = [torch.randn(1, IN, 23, 23)]
    with torch.no_grad():
        torch.testing.assert_close(ours(inputs)[0], ref(inputs)[0], atol=1e-4, rtol=0)
    assert blocks == [100] * 5 + [23 * 23 - 500]


def test_registered_in_the_attnplug_scope():
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    head = MODELS.build(dict(type='attnplug.DAHead', **KWARGS))
    assert type(head) is DAHead
