"""mmseg's own tests, run against attnplug's drop-in classes.

The mmsegmentation wheel installs its test suite as the top-level package ``tests``
(site-packages). Each peer module below is imported from there — its code is never copied
into this repository — and the names it imported from mmseg are swapped, with monkeypatch,
for attnplug's classes; then each of its test functions runs in this process. The package is
imported under the alias ``mmseg_wheel_tests`` (same files, same relative imports), because
pytest's importlib mode owns the name ``tests`` for this repository's own test tree.

What differs, and why, is listed once in :data:`DEVIATIONS` (and in docs/backbone_hooks.md,
"Differences from the originals"). Everything else must pass unchanged.
"""
import importlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path

import pytest
import torch

from attnplug.models.backbones.resnet import (PluginBasicBlock, PluginBottleneck, ResNet,
                                              ResNetV1d)
from attnplug.models.decode_heads import CCHead, DNLHead, NLHead, PSAHead

PEER_PACKAGE = 'mmseg_wheel_tests'
BACKBONES = f'{PEER_PACKAGE}.test_models.test_backbones.test_resnet'
CC_HEAD = f'{PEER_PACKAGE}.test_models.test_heads.test_cc_head'
NL_HEAD = f'{PEER_PACKAGE}.test_models.test_heads.test_nl_head'
DNL_HEAD = f'{PEER_PACKAGE}.test_models.test_heads.test_dnl_head'
PSA_HEAD = f'{PEER_PACKAGE}.test_models.test_heads.test_psa_head'


def _wheel_tests_dir() -> Path:
    """site-packages/tests of the installed mmsegmentation wheel (its RECORD lists it)."""
    from importlib.metadata import distribution
    dist = distribution('mmsegmentation')
    init = next(f for f in dist.files if str(f) == 'tests/__init__.py')
    return Path(dist.locate_file(init)).parent


def _import_peer(name: str):
    if PEER_PACKAGE not in sys.modules:
        root = _wheel_tests_dir()
        spec = importlib.util.spec_from_file_location(
            PEER_PACKAGE, root / '__init__.py', submodule_search_locations=[str(root)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PEER_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(name)

#: peer module -> {name it imports from mmseg: attnplug's class}
SWAPS = {
    BACKBONES: dict(ResNet=ResNet, ResNetV1d=ResNetV1d, BasicBlock=PluginBasicBlock,
                    Bottleneck=PluginBottleneck),
    CC_HEAD: dict(CCHead=CCHead),
    NL_HEAD: dict(NLHead=NLHead),
    DNL_HEAD: dict(DNLHead=DNLHead),
    PSA_HEAD: dict(PSAHead=PSAHead),
}


class StrictBasicBlock(PluginBasicBlock):
    """attnplug's BasicBlock with its one deliberate extension turned off (plugins refused,
    as mmseg's ``assert plugins is None``): the rest of mmseg's BasicBlock test then runs on
    attnplug's block."""

    def __init__(self, *args, plugins=None, **kwargs):
        assert plugins is None, 'StrictBasicBlock: no plugins (as mmseg)'
        super().__init__(*args, **kwargs)


#: (module, test) -> (how it is run, reason). Every entry is a deliberate difference or a
#: limit of this environment; docs/backbone_hooks.md lists the same.
DEVIATIONS = {
    (BACKBONES, 'test_resnet_basic_block'): (
        'xfail-then-strict',
        "attnplug's BasicBlock takes plugins (after_conv1/after_conv2), which mmseg's refuses "
        'with an AssertionError: the test fails exactly at its `pytest.raises(AssertionError)` '
        "around a GeneralizedAttention plugin in a BasicBlock. It is run twice: as it is "
        '(expected to fail there) and with the extension turned off (StrictBasicBlock), so its '
        "other checks still run on attnplug's block"),
    (BACKBONES, 'test_resnet_backbone'): (
        'offline-torchvision',
        "the test loads pretrained='torchvision://resnet18', which needs torchvision and the "
        'network; neither is available here. The torchvision:// loader is replaced by one that '
        "returns an mmseg ResNet-18 state dict (torchvision's keys, random values)"),
    (CC_HEAD, 'test_cc_head'): (
        'cuda-part-on-cpu',
        "mmseg's CCHead needs mmcv's CUDA op, so its test skips without CUDA after the "
        "constructor checks; attnplug's CCHead is pure PyTorch, so the forward part runs on "
        'the CPU (the module\'s torch reports CUDA, its to_cuda is the identity)'),
}


def _peer_tests():
    cases = []
    for module_name in SWAPS:
        module = _import_peer(module_name)
        for name, fn in vars(module).items():
            if name.startswith('test_') and inspect.isfunction(fn):
                assert not inspect.signature(fn).parameters, f'{module_name}.{name} takes args'
                how = DEVIATIONS.get((module_name, name), ('as-is', ''))[0]
                modes = ['as-is', 'strict'] if how == 'xfail-then-strict' else [how]
                cases += [pytest.param(module_name, name, mode,
                                       id=f'{module_name.rsplit(".", 1)[1]}::{name}[{mode}]')
                          for mode in modes]
    return cases


class _TorchReportingCuda:
    """``torch`` as a peer module sees it in 'cuda-part-on-cpu' mode: all of torch, except
    that ``torch.cuda.is_available()`` is True, so the module's CUDA-only part runs."""

    cuda = types.SimpleNamespace(is_available=lambda: True)

    def __getattr__(self, name):
        return getattr(torch, name)


def _offline_torchvision(filename, map_location=None):
    from mmseg.models.backbones import ResNet as MMSegResNet
    depth = int(filename.rsplit('resnet', 1)[1])
    return MMSegResNet(depth).state_dict()


def test_every_peer_module_imports_the_names_we_swap():
    """The swap must replace what the peer modules really use: mmseg's own classes."""
    import mmseg.models.backbones.resnet as seg_resnet
    import mmseg.models.decode_heads as seg_heads
    originals = dict(ResNet=seg_resnet.ResNet, ResNetV1d=seg_resnet.ResNetV1d,
                     BasicBlock=seg_resnet.BasicBlock, Bottleneck=seg_resnet.Bottleneck,
                     CCHead=seg_heads.CCHead, NLHead=seg_heads.NLHead,
                     DNLHead=seg_heads.DNLHead, PSAHead=seg_heads.PSAHead)
    for module_name, swaps in SWAPS.items():
        module = _import_peer(module_name)
        # the wheel's own file, not a copy
        relative = module_name.replace(PEER_PACKAGE, 'tests', 1).replace('.', '/') + '.py'
        assert Path(module.__file__) == _wheel_tests_dir().parent / relative, module.__file__
        for name, ours in swaps.items():
            assert getattr(module, name) is originals[name], (module_name, name)


@pytest.mark.parametrize('module_name,test_name,mode', _peer_tests())
def test_mmseg_peer_test(monkeypatch, module_name, test_name, mode):
    module = _import_peer(module_name)
    for name, ours in SWAPS[module_name].items():
        monkeypatch.setattr(module, name, ours)
    how, reason = DEVIATIONS.get((module_name, test_name), ('as-is', ''))
    if mode == 'strict':
        monkeypatch.setattr(module, 'BasicBlock', StrictBasicBlock)
    elif mode == 'offline-torchvision':
        from mmengine.runner.checkpoint import CheckpointLoader
        monkeypatch.setitem(CheckpointLoader._schemes, 'torchvision://', _offline_torchvision)
    elif mode == 'cuda-part-on-cpu':
        # Only the peer module's view of torch says CUDA is there (mmengine's must not).
        monkeypatch.setattr(module, 'torch', _TorchReportingCuda())
        monkeypatch.setattr(module, 'to_cuda', lambda *args: args)
    test = getattr(module, test_name)
    if how == 'xfail-then-strict' and mode == 'as-is':
        # The deviation, and only it: the test stops at a `pytest.raises` that does not raise.
        with pytest.raises(pytest.fail.Exception, match='DID NOT RAISE'):
            test()
        return
    test()
