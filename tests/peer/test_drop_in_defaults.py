"""Every attnplug class that replaces an mmseg/mmdet class keeps that class's constructor
defaults: a config that swaps ``type='X'`` for ``type='attnplug.X'`` and leaves an argument
out gets the same model.

Two checks per pair: each argument the original gives a default has the same default here
(read from the signatures along the MRO, since the drop-ins forward ``**kwargs``), and the two
classes built from the same minimal config have the same state-dict keys and the same values
for the attributes those defaults set. The layers (``attnplug.layers``) are checked in their
own tests.
"""
import inspect

import pytest
import torch
from mmengine.registry import DefaultScope
from mmdet.models.backbones import ResNet as DetResNetOriginal
from mmdet.models.backbones import ResNetV1d as DetResNetV1dOriginal
from mmdet.models.necks import FPN as DetFPN
from mmseg.models.backbones import ResNet as SegResNet
from mmseg.models.backbones import ResNetV1c as SegResNetV1c
from mmseg.models.backbones import ResNetV1d as SegResNetV1d
from mmseg.models.backbones import UNet as SegUNet
from mmseg.models.decode_heads import CCHead as SegCCHead
from mmseg.models.decode_heads import DAHead as SegDAHead
from mmseg.models.decode_heads import DNLHead as SegDNLHead
from mmseg.models.decode_heads import NLHead as SegNLHead
from mmseg.models.decode_heads import PSAHead as SegPSAHead
from mmseg.models.necks import FPN as SegFPN

from attnplug.models.backbones import (AttentionUNet, DetResNet, DetResNetV1d, ResNet, ResNetV1c,
                                       ResNetV1d)
from attnplug.models.decode_heads import CCHead, DAHead, DNLHead, NLHead, PSAHead
from attnplug.models.necks import AttentionFPN, SegAttentionFPN

HEAD = dict(in_channels=8, channels=4, num_classes=3)
# (ours, original, minimal config, arguments whose default differs on purpose)
PAIRS = {
    'ResNet': (ResNet, SegResNet, dict(depth=18), {}),
    'ResNetV1c': (ResNetV1c, SegResNetV1c, dict(depth=18), {}),
    'ResNetV1d': (ResNetV1d, SegResNetV1d, dict(depth=18), {}),
    'DetResNet': (DetResNet, DetResNetOriginal, dict(depth=18), {}),
    'DetResNetV1d': (DetResNetV1d, DetResNetV1dOriginal, dict(depth=18), {}),
    'CCHead': (CCHead, SegCCHead, HEAD, {}),
    'NLHead': (NLHead, SegNLHead, HEAD, {}),
    'DNLHead': (DNLHead, SegDNLHead, HEAD, {}),
    'PSAHead': (PSAHead, SegPSAHead, dict(HEAD, mask_size=(5, 5)), {}),
    'DAHead': (DAHead, SegDAHead, dict(HEAD, pam_channels=2), {}),
    'AttentionFPN': (AttentionFPN, DetFPN, dict(in_channels=[4, 8], out_channels=4, num_outs=3),
                     {}),
    'SegAttentionFPN': (SegAttentionFPN, SegFPN,
                        dict(in_channels=[4, 8], out_channels=4, num_outs=3), {}),
    # Attention U-Net's gates are what the class is for: on by default (docs: differences).
    'AttentionUNet': (AttentionUNet, SegUNet, dict(base_channels=4), {'attention_gates': True}),
}


def _defaults(cls):
    """Effective constructor defaults: the first class along the MRO that names a parameter
    decides, as long as each class forwards the rest through ``**kwargs``."""
    found = {}
    for klass in cls.__mro__:
        init = vars(klass).get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters
        for name, p in params.items():
            if name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                found.setdefault(name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return found


@pytest.mark.parametrize('name', sorted(PAIRS))
def test_same_constructor_defaults(name):
    ours_cls, original, _, deliberate = PAIRS[name]
    ours, theirs = _defaults(ours_cls), _defaults(original)
    for arg, default in theirs.items():
        if arg in deliberate:
            continue
        assert arg in ours, f'{name}: argument {arg!r} of the original is missing'
        assert ours[arg] == default, f'{name}.{arg}: {ours[arg]!r} here, {default!r} in the original'
    for arg, default in deliberate.items():
        assert ours[arg] == default


@pytest.mark.parametrize('name', sorted(PAIRS))
def test_same_model_from_the_same_minimal_config(name):
    ours_cls, original, cfg, deliberate = PAIRS[name]
    scope = original.__module__.split('.')[0]  # mmseg's UNet builds its upsamplers by scope
    with DefaultScope.overwrite_default_scope(scope):
        # with the deliberate differences turned off (attention_gates=False: mmseg's UNet)
        ours = ours_cls(**cfg, **{k: False for k in deliberate})
        theirs = original(**cfg)
    # the same keys (registration order may differ: it does not matter to load_state_dict)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for attr, value in vars(theirs).items():
        if attr.startswith('_') or isinstance(value, (torch.nn.Module, torch.Tensor)):
            continue
        if attr in ('init_cfg', ) or not hasattr(ours, attr):
            continue
        assert getattr(ours, attr) == value, f'{name}.{attr}'
