"""The contract with the frameworks' internals (docs/internals.md).

attnplug reads or writes a few private attributes and functions of mmengine, mmcv, mmseg and
mmdet, overrides two of their private methods and restates three of their forwards. Each
case below checks one such touchpoint the way attnplug uses it, so an upgrade that changes
it fails here, by name, instead of somewhere inside a model. ``test_every_private_touchpoint_is
_listed`` scans attnplug/ for private names it does not define and fails on any this file does
not list, so a new touchpoint comes with its check.
"""
import ast
import hashlib
import inspect
import pathlib
import re
import textwrap
from collections import defaultdict

import pytest
import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'attnplug'
DOC = ROOT / 'docs' / 'internals.md'

CONTRACT = {}  # touchpoint -> the check


def touchpoint(name):
    """Register a check for the private name ``name`` (as docs/internals.md lists it)."""
    def register(fn):
        CONTRACT[name] = fn
        return fn
    return register


def _source_hash(fn) -> str:
    return hashlib.sha256(textwrap.dedent(inspect.getsource(fn)).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- mmengine
@touchpoint('mmengine.model.BaseModule._params_init_info')
def _params_init_info():
    """attnplug.models.plugins.init_apart gives a detached plugin tree a temporary record, and
    PluginHostMixin.init_weights logs into it: both rely on BaseModule.init_weights treating a
    module WITH the attribute as a child (no dump, no deletion) and one WITHOUT it as the top
    (creates, shares with every submodule, deletes at the end), in the
    {param: {'init_info', 'tmp_mean_value'}} format update_init_info reads."""
    from mmengine.model import BaseModule, update_init_info

    class Leaf(BaseModule):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

    seen = {}

    class Probe(Leaf):
        def init_weights(self):
            seen['record'] = getattr(self, '_params_init_info', None)
            super().init_weights()

    class Top(BaseModule):
        def __init__(self):
            super().__init__()
            self.probe = Probe()

    top = Top()
    top.init_weights()
    record = seen['record']
    assert record is not None and {id(p) for p in record} == {id(p) for p in top.parameters()}, \
        'the top module no longer shares a record of all its parameters with its children'
    assert not hasattr(top, '_params_init_info') and not hasattr(top.probe, '_params_init_info'), \
        'the top module no longer deletes the record at the end'

    child = Leaf()
    record = defaultdict(dict)
    for p in child.parameters():
        record[p]['init_info'] = 'set by the test'
        record[p]['tmp_mean_value'] = p.data.mean().cpu()
    for m in child.modules():
        m._params_init_info = record
    with torch.no_grad():
        child.conv.weight.add_(1.0)
    update_init_info(child, init_info='updated by the test')
    assert record[child.conv.weight]['init_info'] == 'updated by the test', \
        'update_init_info no longer records changed parameters in _params_init_info'
    child.init_weights()
    assert child._params_init_info is record, \
        'a module with _params_init_info is no longer treated as a child (record replaced)'


@touchpoint('mmengine.model.BaseModule.is_init')
def _is_init():
    """PluginHostMixin and init_plugin set ``is_init = False`` so that mmengine runs a plugin's
    init_weights() again; mmengine skips children whose is_init is True."""
    from mmengine.model import BaseModule

    calls = []

    class Child(BaseModule):
        def init_weights(self):
            calls.append(self)
            super().init_weights()

    class Parent(BaseModule):
        def __init__(self):
            super().__init__()
            self.child = Child()

    parent = Parent()
    parent.child.is_init = True
    parent.init_weights()
    assert calls == [], 'BaseModule.init_weights no longer skips children with is_init=True'
    parent, calls[:] = Parent(), []
    parent.init_weights()
    parent.child.is_init = False
    parent.is_init = False
    parent.init_weights()
    assert len(calls) == 2, 'setting is_init = False no longer makes init_weights run again'


@touchpoint('mmengine.logging.HistoryBuffer._statistics_methods')
def _statistics_methods():
    """attnplug.compat reads the class-level statistics dict and rebuilds mmengine 0.10.7's
    instance state (max_length, _log_history, _count_history, statistics_methods)."""
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer()
    assert isinstance(HistoryBuffer._statistics_methods, dict), \
        'HistoryBuffer._statistics_methods is no longer a class-level dict'
    for name in ('min', 'max', 'current', 'mean'):
        assert name in HistoryBuffer._statistics_methods, name
    state = buffer.__getstate__()
    assert set(state) == {'max_length', '_log_history', '_count_history', 'statistics_methods'}, \
        f'HistoryBuffer instance state changed: {sorted(state)}'


@touchpoint('mmengine.analysis.print_helper._format_size')
def _format_size():
    """attnplug.analysis.flops formats FLOP/parameter counts with it."""
    from mmengine.analysis.print_helper import _format_size
    params = inspect.signature(_format_size).parameters
    assert list(params)[:3] == ['x', 'sig_figs', 'hide_zero'], list(params)
    assert _format_size(1234567) == '1.235M', _format_size(1234567)


@touchpoint('mmengine.analysis.complexity_analysis._DEFAULT_SUPPORTED_FLOP_OPS')
def _default_flop_ops():
    """attnplug.analysis.flops adds its attention handles to mmengine's default tables, which
    FlopAnalyzer and ActivationAnalyzer copy when built."""
    from mmengine.analysis import complexity_analysis as ca
    for table in ('_DEFAULT_SUPPORTED_FLOP_OPS', '_DEFAULT_SUPPORTED_ACT_OPS'):
        value = getattr(ca, table, None)
        assert isinstance(value, dict) and 'aten::linear' in value, \
            f'mmengine complexity_analysis.{table} is gone or no longer maps aten::linear'
    for table, analyzer in (('_DEFAULT_SUPPORTED_FLOP_OPS', ca.FlopAnalyzer),
                            ('_DEFAULT_SUPPORTED_ACT_OPS', ca.ActivationAnalyzer)):
        defaults = getattr(ca, table)
        saved = defaults['aten::linear']
        defaults['aten::linear'] = lambda inputs, outputs: 12345
        try:
            total = analyzer(nn.Linear(4, 4), (torch.zeros(1, 4), )).total()
        finally:
            defaults['aten::linear'] = saved
        assert total == 12345, f'{analyzer.__name__} no longer takes its handles from {table}'


CONTRACT['mmengine.analysis.complexity_analysis._DEFAULT_SUPPORTED_ACT_OPS'] = _default_flop_ops


@touchpoint('mmengine.model.ImgDataPreprocessor._channel_conversion')
def _channel_conversion():
    """attnplug.deploy.export and attnplug.analysis.attention_maps read the pre-processor's
    BGR<->RGB flip and whether it normalises from these two attributes."""
    from mmengine.model import ImgDataPreprocessor
    dp = ImgDataPreprocessor(mean=[1., 2., 3.], std=[1., 1., 1.], bgr_to_rgb=True)
    assert getattr(dp, '_channel_conversion', None) is True, \
        'ImgDataPreprocessor._channel_conversion is gone or no longer set by bgr_to_rgb'
    assert getattr(dp, '_enable_normalize', None) is True, \
        'ImgDataPreprocessor._enable_normalize is gone or no longer set by mean/std'
    plain = ImgDataPreprocessor()
    assert plain._channel_conversion is False and plain._enable_normalize is False


CONTRACT['mmengine.model.ImgDataPreprocessor._enable_normalize'] = _channel_conversion


@touchpoint('mmengine.registry.DefaultScope._instance_dict')
def _instance_dict():
    """tests/conftest.py saves and restores the DefaultScope instances around every test
    (ManagerMixin keeps them in this class-level dict, by instance name)."""
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    try:
        scope = DefaultScope.get_instance('attnplug_contract_probe', scope_name='mmengine')
        assert DefaultScope._instance_dict.get('attnplug_contract_probe') is scope, \
            'DefaultScope._instance_dict no longer holds the instances by name'
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved)
        assert not DefaultScope.check_instance_created('attnplug_contract_probe'), \
            'restoring DefaultScope._instance_dict no longer forgets a scope created meanwhile'
    finally:
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(saved)


# ----------------------------------------------------------------------------- mmcv
@touchpoint('mmcv.cnn.bricks.plugin.infer_abbr')
def _infer_abbr():
    """The plugin core names plugins as build_plugin_layer does: infer_abbr(cls) + postfix,
    infer_abbr reading the class's _abbr_; the result must equal build_plugin_layer's."""
    from mmcv.cnn import ContextBlock, build_plugin_layer
    from mmcv.cnn.bricks.plugin import infer_abbr

    from attnplug.models.plugins import build_plugin, plan_plugins
    assert infer_abbr(ContextBlock) == ContextBlock._abbr_ == 'context_block'

    class NoAbbrPlugin(nn.Module):
        def __init__(self, in_channels):
            super().__init__()
            self.in_channels = in_channels

    assert infer_abbr(NoAbbrPlugin) == 'no_abbr_plugin', infer_abbr(NoAbbrPlugin)
    theirs = build_plugin_layer(dict(type=NoAbbrPlugin), postfix='2', in_channels=5)
    spec, = plan_plugins([('p', dict(type=NoAbbrPlugin, postfix='2'))], {'p': 5}, 'test')
    ours = build_plugin(spec)
    assert ours[0] == theirs[0] and ours[1].in_channels == theirs[1].in_channels == 5


# ----------------------------------------------------------------------------- mmseg
@touchpoint('mmseg.models.decode_heads.decode_head.BaseDecodeHead._transform_inputs')
def _transform_inputs():
    """attnplug's heads (CCHead, NLHead, DAHead, AttnFCNHead) select their input with it."""
    pytest.importorskip('mmseg.models')
    from mmseg.models.decode_heads.fcn_head import FCNHead
    head = FCNHead(in_channels=[2, 3], in_index=[0, 1], input_transform='resize_concat',
                   channels=4, num_classes=2)
    x = head._transform_inputs([torch.rand(1, 2, 6, 7), torch.rand(1, 3, 3, 4)])
    assert tuple(x.shape) == (1, 5, 6, 7), tuple(x.shape)
    head = FCNHead(in_channels=3, in_index=1, channels=4, num_classes=2)
    inputs = [torch.rand(1, 2, 6, 7), torch.rand(1, 3, 3, 4)]
    assert head._transform_inputs(inputs) is inputs[1]


@touchpoint('mmseg.models.decode_heads.fcn_head.FCNHead._forward_feature')
def _forward_feature():
    """AttnFCNHead overrides it to put the attention after convs[0]; FCNHead.forward and
    predict must still go through it."""
    pytest.importorskip('mmseg.models')
    from mmseg.models.decode_heads.fcn_head import FCNHead
    calls = []

    class Spy(FCNHead):
        def _forward_feature(self, inputs):
            calls.append(len(inputs))
            return super()._forward_feature(inputs)

    head = Spy(in_channels=3, channels=4, num_classes=2)
    out = head([torch.rand(1, 3, 5, 6)])
    assert calls == [1] and tuple(out.shape) == (1, 2, 5, 6), \
        'FCNHead.forward no longer calls _forward_feature'


@touchpoint('mmseg.models.backbones.unet.UNet._check_input_divisible')
def _check_input_divisible():
    """AttentionUNet.forward checks its input with UNet's own check."""
    pytest.importorskip('mmseg.models')
    from mmengine.registry import DefaultScope
    from mmseg.models.backbones.unet import UNet
    with DefaultScope.overwrite_default_scope('mmseg'):
        unet = UNet(in_channels=3, base_channels=4, num_stages=2, strides=(1, 1),
                    enc_num_convs=(1, 1), dec_num_convs=(1, ), downsamples=(True, ),
                    enc_dilations=(1, 1), dec_dilations=(1, ))
    unet._check_input_divisible(torch.rand(1, 3, 8, 8))
    with pytest.raises(AssertionError):
        unet._check_input_divisible(torch.rand(1, 3, 9, 8))


def _resnets():
    classes = []
    try:
        from mmseg.models.backbones import resnet as seg
        classes.append(('mmseg', seg))
    except ImportError:
        pass
    try:
        from mmdet.models.backbones import resnet as det
        classes.append(('mmdet', det))
    except ImportError:
        pass
    if not classes:
        pytest.skip('neither mmseg nor mmdet')
    return classes


@touchpoint('ResNet._freeze_stages')
def _freeze_stages():
    """ResNetPluginMixin overrides _freeze_stages (and calls the parent's) to freeze the
    'after_stage' plugins of frozen stages; train() must still call it."""
    for framework, module in _resnets():
        calls = []

        class Spy(module.ResNet):
            def _freeze_stages(self):
                calls.append(self.frozen_stages)
                super()._freeze_stages()

        model = Spy(depth=18, base_channels=2, frozen_stages=1)
        n = len(calls)
        assert n >= 1, f'{framework} ResNet.__init__ no longer calls _freeze_stages'
        model.train()
        assert len(calls) == n + 1, f'{framework} ResNet.train() no longer calls _freeze_stages'
        assert not any(p.requires_grad for p in model.layer1.parameters()), framework


@touchpoint('ResNet.make_res_layer')
def _make_res_layer():
    """ResNetPluginMixin swaps the block class in make_res_layer and passes `plugin_where`
    (the stage, for messages) to each block; it relies on ResNet.__init__ calling it once per
    stage with planes = base_channels * 2**stage and the stage's make_stage_plugins result, and
    on ResLayer handing extra keyword arguments to every block."""
    for framework, module in _resnets():
        seen = []

        class Spy(module.ResNet):
            def make_stage_plugins(self, plugins, stage_idx):
                seen.append(('plugins', stage_idx))
                return []

            def make_res_layer(self, **kwargs):
                seen.append(('layer', kwargs['planes'], kwargs['plugins']))
                return super().make_res_layer(**kwargs)

        Spy(depth=50, base_channels=2, plugins=[])
        expected = [x for i in range(4) for x in (('plugins', i), ('layer', 2 * 2**i, []))]
        assert seen == expected, f'{framework} ResNet.__init__ changed: {seen}'

        received = []

        class Block(module.BasicBlock):
            def __init__(self, *args, extra_kwarg=None, **kwargs):
                received.append(extra_kwarg)
                super().__init__(*args, **kwargs)

        res_layer_cls = type(module.ResNet(depth=18, base_channels=2).layer1)
        res_layer_cls(Block, inplanes=2, planes=2, num_blocks=2, extra_kwarg='x')
        assert received == ['x', 'x'], \
            f'{framework} ResLayer no longer hands extra keyword arguments to its blocks'


#: sha256[:16] of the upstream forwards that attnplug restates (dedented source), in mmseg
#: 1.2.2 and mmdet 3.3.0: ResNet.forward in ResNetPluginMixin.forward, BasicBlock/Bottleneck
#: .forward in BlockPluginMixin.forward.
RESTATED_FORWARDS = {
    ('mmseg', 'ResNet'): 'b3445e0bad12a0b3',
    ('mmseg', 'BasicBlock'): '5a4d745960eaf554',
    ('mmseg', 'Bottleneck'): '3dc9d727fcfa8fa1',
    ('mmdet', 'ResNet'): 'b3445e0bad12a0b3',
    ('mmdet', 'BasicBlock'): '5a4d745960eaf554',
    ('mmdet', 'Bottleneck'): '8f6582e7e1679e08',
}


@touchpoint('ResNet.forward, BasicBlock.forward, Bottleneck.forward (restated)')
def _restated_forwards():
    """attnplug restates these forwards with its plugin slots in them
    (attnplug/models/backbones/resnet_plugins.py). If upstream changes one, the restatement
    must be compared with the new version and these hashes updated."""
    for framework, module in _resnets():
        for name in ('ResNet', 'BasicBlock', 'Bottleneck'):
            got = _source_hash(getattr(module, name).forward)
            assert got == RESTATED_FORWARDS[framework, name], (
                f'{framework} {name}.forward changed (source hash {got}); compare it with '
                'attnplug/models/backbones/resnet_plugins.py, which restates it, then update '
                'RESTATED_FORWARDS')


# ----------------------------------------------------------------------------- torch
@touchpoint('torch.nn.Module._modules')
def _modules():
    """WithPlugins walks and detaches its plugin tree through _modules (an ordered dict of the
    children, which __getattr__ and named_modules read)."""
    parent = nn.Sequential()
    parent.add_module('a', nn.ReLU())
    assert isinstance(parent._modules, dict) and list(parent._modules) == ['a']
    child = parent._modules.pop('a')
    assert list(parent.named_modules()) == [('', parent)]
    parent._modules['a'] = child
    assert parent.a is child


@touchpoint('torch.nn.modules.batchnorm._BatchNorm')
def _norm_bases():
    """NonLocal2d names its norm like mmcv's build_norm_layer, by the norm's base class."""
    assert issubclass(nn.SyncBatchNorm, nn.modules.batchnorm._BatchNorm)
    assert issubclass(nn.InstanceNorm2d, nn.modules.instancenorm._InstanceNorm)


CONTRACT['torch.nn.modules.instancenorm._InstanceNorm'] = _norm_bases


@pytest.mark.parametrize('name', sorted(CONTRACT))
def test_touchpoint(name):
    CONTRACT[name]()


# ----------------------------------------------------------------------------- the list
def _private_names_used_in_attnplug():
    """``{name: [file:line]}`` for the single-underscore names attnplug uses as attributes
    (``x._name``, ``getattr(x, '_name')``) or imports from another package, and does not
    define itself."""
    defined, used = set(), defaultdict(list)
    for path in sorted(PACKAGE.rglob('*.py')):
        tree = ast.parse(path.read_text())
        where = f'{path.relative_to(ROOT)}'
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id in ('self', 'cls'):
                defined.add(node.attr)
            elif isinstance(node, ast.alias) and node.asname:
                defined.add(node.asname)
            elif isinstance(node, ast.keyword) and node.arg:  # dict(_name=...), type(..., dict)
                defined.add(node.arg)
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.Call) and getattr(node.func, 'id', None) in (
                    'getattr', 'hasattr', 'setattr', 'delattr') and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str):
                name = node.args[1].value
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and not node.module.startswith('attnplug'):
                for alias in node.names:
                    if re.match(r'_[^_]', alias.name):
                        used[alias.name].append(f'{where}:{node.lineno}')
            if name and re.match(r'_[^_]', name) and not name.endswith('_'):
                used[name].append(f'{where}:{node.lineno}')
    return {name: places for name, places in used.items() if name not in defined}


#: Private names from outside attnplug that attnplug uses only on its own objects or on
#: torch internals of no framework's making; each is explained here.
NOT_FRAMEWORK = {
    '_higher_order_ops': 'torch._higher_order_ops.scan (attnplug.functional, issue 26)',
    '_python_dispatch': 'torch.utils._python_dispatch.TorchDispatchMode (attnplug.testing)',
    '_pytree': 'torch.utils._pytree.tree_flatten (attnplug.testing)',
    '_loading_prefix': "attnplug's own attribute on its layers (attnplug.layers.base)",
}


def test_every_private_touchpoint_is_listed():
    listed = ' '.join(CONTRACT) + ' ' + ' '.join(NOT_FRAMEWORK)
    unlisted = {name: places for name, places in _private_names_used_in_attnplug().items()
                if not re.search(rf'\b{re.escape(name)}\b', listed)}
    assert not unlisted, (
        'attnplug uses private names that tests/test_internals_contract.py does not list; add '
        f'a check for each, and a line to docs/internals.md: {unlisted}')


def test_docs_list_every_touchpoint():
    text = DOC.read_text()
    missing = [name for name in CONTRACT
               if not all(f'`{part.strip()}`' in text
                          for part in re.sub(r'\(.*\)', '', name).split(','))]
    assert not missing, f'docs/internals.md does not list {missing}'
    assert 'internals.md' in (ROOT / 'docs' / 'contributing.md').read_text()
