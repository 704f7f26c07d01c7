"""ResNet backbones that take attention plugins in every block and after every
stage: ``attnplug.ResNet``, ``attnplug.ResNetV1c`` and ``attnplug.ResNetV1d``.

They extend mmseg 1.2.2's ResNet family (`Deep Residual Learning for Image
Recognition <https://arxiv.org/abs/1512.03385>`_; V1c/V1d from `Bag of Tricks
<https://arxiv.org/abs/1812.01187>`_) and fix what its plugin support lacks:

* mmseg 1.2.2's ``Bottleneck.forward_plugin`` feeds every plugin at a position
  the same input, so with several plugins only the last one has any effect.
  Here they are chained in config order, as in mmdet 3.3.0.
* mmseg's and mmdet's ``BasicBlock`` assert ``plugins is None``. Here ResNet-18/34
  blocks take plugins ``after_conv1`` and ``after_conv2``.
* Plugins could only sit inside blocks. Position ``'after_stage'`` applies a
  plugin once to a whole stage's output, where BAM (Park et al., BMVC 2018,
  https://arxiv.org/abs/1807.06514, Sec. 3) places its module.

State-dict keys are those of mmseg's (and mmdet's) ResNet, so pretrained ResNet
checkpoints load unchanged. Block-level plugin keys are mmdet's
(``layer3.0.context_block.*``, as in mmdet's GCNet checkpoints); stage-level
plugins live under ``after_stage_plugins.layer<i>.*``, which no ResNet
checkpoint uses.
"""
from typing import Dict, Iterator, NamedTuple, Optional
import warnings

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import ModuleDict
from mmseg.models.backbones.resnet import BasicBlock as MMSegBasicBlock
from mmseg.models.backbones.resnet import Bottleneck as MMSegBottleneck
from mmseg.models.backbones.resnet import ResNet as MMSegResNet

from attnplug.registry import MODELS
from .plugin_slots import (PluginChain, PluginHostMixin, check_plugin_list, in_stage, plan_plugins,
                           run_plugins)

__all__ = [
    'STAGE_POSITION', 'PluginRecord', 'BasicBlockPluginMixin', 'BottleneckPluginMixin',
    'ResNetPluginMixin', 'PluginBasicBlock', 'PluginBottleneck', 'ResNet', 'ResNetV1c',
    'ResNetV1d'
]

#: Position of a plugin applied once to a whole stage's output.
STAGE_POSITION = 'after_stage'


class PluginRecord(NamedTuple):
    """One built plugin, as yielded by :meth:`ResNetPluginMixin.named_plugins`.

    ``stage`` is the 0-based stage index (as in ``stages`` and ``out_indices``),
    ``block`` the block index in that stage (None for ``'after_stage'``), ``path``
    the module's name in the backbone (``backbone.get_submodule(path)``).
    """
    stage: int
    block: Optional[int]
    position: str
    name: str
    path: str
    module: nn.Module


def _checkpointed(fn, x: torch.Tensor) -> torch.Tensor:
    # mmseg 1.2.2 leaves use_reentrant out, which torch 2.13 warns about (and
    # announces as an error); False is the variant PyTorch recommends.
    return cp.checkpoint(fn, x, use_reentrant=False)


def _block_entries(plugins, positions, owner):
    return [(p['position'], p['cfg']) for p in check_plugin_list(plugins, positions, None, owner)]


class BasicBlockPluginMixin(PluginHostMixin):
    """Plugins for a ResNet ``BasicBlock`` (two 3x3 convs): ``after_conv1``
    (after conv1-norm1-ReLU, ``planes`` channels) and ``after_conv2`` (after
    conv2-norm2, before the residual sum, ``planes`` channels)."""

    plugin_positions = ('after_conv1', 'after_conv2')

    @classmethod
    def plugin_channels(cls, planes: int) -> Dict[str, int]:
        return {'after_conv1': planes, 'after_conv2': planes * cls.expansion}

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None, style='pytorch',
                 with_cp=False, conv_cfg=None, norm_cfg=dict(type='BN'), dcn=None, plugins=None,
                 init_cfg=None):
        where = f'{type(self).__name__}(inplanes={inplanes}, planes={planes})'
        specs = plan_plugins(_block_entries(plugins, self.plugin_positions, where),
                             self.plugin_channels(planes), where)
        super().__init__(inplanes, planes, stride=stride, dilation=dilation,
                         downsample=downsample, style=style, with_cp=with_cp, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, dcn=dcn, plugins=None, init_cfg=init_cfg)
        self.plugins = plugins
        self.with_plugins = bool(specs)
        self._add_plugins(specs, self.plugin_positions, where)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        names = self.plugin_names

        def _inner_forward(x):
            out = self.relu(self.norm1(self.conv1(x)))
            if names['after_conv1']:
                out = run_plugins(self, names['after_conv1'], out, 'after_conv1')
            out = self.norm2(self.conv2(out))
            if names['after_conv2']:
                out = run_plugins(self, names['after_conv2'], out, 'after_conv2')
            identity = x if self.downsample is None else self.downsample(x)
            # Out of place: a plugin may have saved its output for backward.
            return out + identity

        if self.with_cp and x.requires_grad:
            out = _checkpointed(_inner_forward, x)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class BottleneckPluginMixin(PluginHostMixin):
    """Plugins for a ResNet ``Bottleneck`` (1x1, 3x3, 1x1 convs):
    ``after_conv1`` (after conv1-norm1-ReLU, ``planes`` channels),
    ``after_conv2`` (after conv2-norm2-ReLU, ``planes`` channels) and
    ``after_conv3`` (after conv3-norm3, before the residual sum,
    ``planes * 4`` channels). The ``dcn`` slot (conv2) works as in mmseg."""

    plugin_positions = ('after_conv1', 'after_conv2', 'after_conv3')

    @classmethod
    def plugin_channels(cls, planes: int) -> Dict[str, int]:
        return {'after_conv1': planes, 'after_conv2': planes, 'after_conv3': planes * cls.expansion}

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None, style='pytorch',
                 with_cp=False, conv_cfg=None, norm_cfg=dict(type='BN'), dcn=None, plugins=None,
                 init_cfg=None):
        where = f'{type(self).__name__}(inplanes={inplanes}, planes={planes})'
        specs = plan_plugins(_block_entries(plugins, self.plugin_positions, where),
                             self.plugin_channels(planes), where)
        # ``dcn`` goes through unchanged: the parent builds conv2 from it
        # (popping ``fallback_on_stride`` exactly as mmseg/mmdet do).
        super().__init__(inplanes, planes, stride=stride, dilation=dilation,
                         downsample=downsample, style=style, with_cp=with_cp, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, dcn=dcn, plugins=None, init_cfg=init_cfg)
        self.plugins = plugins
        self.with_plugins = bool(specs)
        self._add_plugins(specs, self.plugin_positions, where)
        # The attribute names mmseg's and mmdet's Bottleneck use.
        self.after_conv1_plugin_names = self.plugin_names['after_conv1']
        self.after_conv2_plugin_names = self.plugin_names['after_conv2']
        self.after_conv3_plugin_names = self.plugin_names['after_conv3']

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        names = self.plugin_names

        def _inner_forward(x):
            out = self.relu(self.norm1(self.conv1(x)))
            if names['after_conv1']:
                out = run_plugins(self, names['after_conv1'], out, 'after_conv1')
            out = self.relu(self.norm2(self.conv2(out)))
            if names['after_conv2']:
                out = run_plugins(self, names['after_conv2'], out, 'after_conv2')
            out = self.norm3(self.conv3(out))
            if names['after_conv3']:
                out = run_plugins(self, names['after_conv3'], out, 'after_conv3')
            identity = x if self.downsample is None else self.downsample(x)
            # Out of place: a plugin may have saved its output for backward.
            return out + identity

        if self.with_cp and x.requires_grad:
            out = _checkpointed(_inner_forward, x)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class PluginBasicBlock(BasicBlockPluginMixin, MMSegBasicBlock):
    """mmseg's ``BasicBlock`` with plugins; see :class:`BasicBlockPluginMixin`."""


class PluginBottleneck(BottleneckPluginMixin, MMSegBottleneck):
    """mmseg's ``Bottleneck`` with chained plugins; see :class:`BottleneckPluginMixin`."""


class ResNetPluginMixin:
    """Plugin support for an OpenMMLab ResNet class (mmseg's or mmdet's).

    It swaps the stage's block class for its plugin-capable version in
    ``make_res_layer`` (``self.block`` and ``arch_settings`` keep the stock
    classes, so ``zero_init_residual`` still finds them), builds the
    ``'after_stage'`` plugins, and runs them in ``forward``. Subclasses set
    ``plugin_blocks``: stock block class -> plugin-capable block class.
    """

    plugin_blocks: Dict[type, type] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._build_stage_plugins()
        for layer_name in self.res_layers:
            for j, block in enumerate(getattr(self, layer_name)):
                if isinstance(block, PluginHostMixin):
                    block.plugin_location = f'{layer_name}.{j} ({type(block).__name__})'
        self._warn_frozen_plugins()
        self._freeze_stages()

    # -- building ---------------------------------------------------------
    def _plugin_block(self, block: type) -> type:
        if isinstance(block, type) and issubclass(block, PluginHostMixin):
            return block
        if block not in self.plugin_blocks:
            raise TypeError(f'{type(self).__name__} has no plugin-capable version of block '
                            f'{block!r}; known: {list(self.plugin_blocks)}')
        return self.plugin_blocks[block]

    @property
    def valid_plugin_positions(self):
        """tuple[str]: Positions this backbone's ``plugins`` may use."""
        return self._plugin_block(self.block).plugin_positions + (STAGE_POSITION, )

    def _checked_plugins(self):
        return check_plugin_list(self.plugins, self.valid_plugin_positions, self.num_stages,
                                 type(self).__name__)

    def _stage_where(self, stage_idx: int) -> str:
        return (f'{type(self).__name__} stage {stage_idx} (layer{stage_idx + 1}, '
                f'{self.block.__name__} blocks)')

    def make_stage_plugins(self, plugins, stage_idx):
        """Block-level plugins of stage ``stage_idx``, checked against the
        stage's channels (``'after_stage'`` plugins are built separately).

        Args:
            plugins (list[dict]): The backbone's ``plugins``.
            stage_idx (int): Index of the stage being built.

        Returns:
            list[dict]: ``dict(cfg, position)`` for every block of the stage.
        """
        checked = check_plugin_list(plugins, self.valid_plugin_positions, self.num_stages,
                                    type(self).__name__)
        block_plugins = [
            dict(cfg=p['cfg'], position=p['position']) for p in checked
            if p['position'] != STAGE_POSITION and in_stage(p, stage_idx)
        ]
        self._building_stage = stage_idx  # for make_res_layer's messages
        if block_plugins:
            planes = self.base_channels * 2**stage_idx
            plan_plugins([(p['position'], p['cfg']) for p in block_plugins],
                         self._plugin_block(self.block).plugin_channels(planes),
                         self._stage_where(stage_idx))
        return block_plugins

    def make_res_layer(self, **kwargs):
        """Pack a stage's blocks into a ``ResLayer``, using plugin-capable blocks."""
        kwargs['block'] = self._plugin_block(kwargs['block'])
        stage_idx = getattr(self, '_building_stage', None)
        if stage_idx is None:
            return super().make_res_layer(**kwargs)
        try:
            return super().make_res_layer(**kwargs)
        except (ValueError, TypeError, KeyError, AssertionError) as err:
            # A block knows its plugin and channels; say which stage it belongs to.
            raise type(err)(f'{self._stage_where(stage_idx)}: {err}') from err
        finally:
            self._building_stage = None

    def stage_out_channels(self, stage_idx: int) -> int:
        """int: Channels of stage ``stage_idx``'s output (its ``'after_stage'`` in_channels)."""
        return self.base_channels * 2**stage_idx * self.block.expansion

    def _build_stage_plugins(self):
        checked = self._checked_plugins()
        chains = {}
        for i, layer_name in enumerate(self.res_layers):
            entries = [(p['position'], p['cfg']) for p in checked
                       if p['position'] == STAGE_POSITION and in_stage(p, i)]
            if not entries:
                continue
            where = f'{type(self).__name__} stage {i} ({layer_name}, after the stage)'
            specs = plan_plugins(entries, {STAGE_POSITION: self.stage_out_channels(i)}, where)
            chains[layer_name] = PluginChain(specs, STAGE_POSITION, where)
            chains[layer_name].plugin_location = f'{layer_name} (after the stage)'
        self.after_stage_plugins = ModuleDict(chains) if chains else None

    def _warn_frozen_plugins(self):
        frozen = sorted({r.stage for r in self.named_plugins() if r.stage < self.frozen_stages})
        if frozen:
            warnings.warn(
                f'{type(self).__name__}: frozen_stages={self.frozen_stages} also freezes the '
                f'plugins in stage(s) {frozen}, so they keep their initial weights. Leave those '
                f'stages out with the plugin\'s `stages`.')

    def _freeze_stages(self):
        super()._freeze_stages()
        chains = getattr(self, 'after_stage_plugins', None)
        if chains is None:
            return
        for i in range(1, self.frozen_stages + 1):
            if f'layer{i}' in chains:
                chains[f'layer{i}'].eval()
                for param in chains[f'layer{i}'].parameters():
                    param.requires_grad = False

    # -- using ------------------------------------------------------------
    def named_plugins(self) -> Iterator[PluginRecord]:
        """Iterate over the built plugins, e.g. to hook them for visualisation.

        Yields:
            PluginRecord: ``(stage, block, position, name, path, module)`` in
            forward order within each stage.
        """
        chains = getattr(self, 'after_stage_plugins', None)
        for i, layer_name in enumerate(self.res_layers):
            for j, block in enumerate(getattr(self, layer_name)):
                for position, names in getattr(block, 'plugin_names', {}).items():
                    for name in names:
                        yield PluginRecord(i, j, position, name, f'{layer_name}.{j}.{name}',
                                           getattr(block, name))
            if chains is not None and layer_name in chains:
                for name in chains[layer_name].plugin_names[STAGE_POSITION]:
                    yield PluginRecord(i, None, STAGE_POSITION, name,
                                       f'after_stage_plugins.{layer_name}.{name}',
                                       getattr(chains[layer_name], name))

    def forward(self, x):
        """Forward function; returns the outputs of the ``out_indices`` stages,
        each after its ``'after_stage'`` plugins."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        chains = self.after_stage_plugins
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if chains is not None and layer_name in chains:
                if self.with_cp and x.requires_grad:
                    x = _checkpointed(chains[layer_name], x)
                else:
                    x = chains[layer_name](x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class ResNet(ResNetPluginMixin, MMSegResNet):
    """ResNet backbone with attention plugins in every block and after every stage.

    This backbone is mmseg's :class:`mmseg.models.backbones.ResNet` (`Deep
    Residual Learning for Image Recognition <https://arxiv.org/abs/1512.03385>`_)
    with the same arguments and state-dict keys, so ``open-mmlab://`` and
    ``torchvision://`` ResNet checkpoints load unchanged. It fixes two plugin
    limitations of mmseg 1.2.2: several plugins at one position are chained
    (mmseg feeds them all the same input, so only the last one counted), and
    ``BasicBlock`` (ResNet-18/34) takes plugins (mmseg and mmdet assert
    ``plugins is None``). It adds stage-level plugins (``'after_stage'``).

    It is also a drop-in for mmdet's ``ResNet`` where the config sets
    ``norm_eval`` (mmdet's base configs do); :class:`DetResNet` keeps all of
    mmdet's defaults (``norm_eval=True``, ``stem_channels=base_channels``).

    Plugin positions (``planes = base_channels * 2**i`` in stage ``i``):

    ================  ====================  ====================  ==========================
    position          Bottleneck (R-50+)    BasicBlock (R-18/34)  where
    ================  ====================  ====================  ==========================
    ``after_conv1``   ``planes``            ``planes``            after conv1-norm1-ReLU
    ``after_conv2``   ``planes``            ``planes``            after conv2-norm2(-ReLU)
    ``after_conv3``   ``planes * 4``        (not valid)           after conv3-norm3
    ``after_stage``   ``planes * 4``        ``planes``            once, after the whole stage
    ================  ====================  ====================  ==========================

    A block's last position (``after_conv3``, or ``after_conv2`` of a
    BasicBlock) is before the residual sum; ``after_conv2`` of a BasicBlock has
    no ReLU before it. Several plugins at one position are chained in config
    order. A block-level plugin is built in every block of the selected
    stages; an ``after_stage`` plugin once per selected stage, and its output
    is what the stage passes on and returns (``out_indices``). Stage-level
    plugin keys are ``after_stage_plugins.layer<i+1>.<name>.*``.

    Args:
        depth (int): Depth of resnet, from {18, 34, 50, 101, 152}.
        plugins (list[dict] | None): Plugins, each a dict with:

            - cfg (dict, required): Config of the plugin, built by
              :func:`mmcv.cnn.build_plugin_layer` with ``in_channels`` set by
              the backbone (leave it out, or give the value of the position).
              ``postfix`` (int | str) in ``cfg`` tells apart two plugins of one
              type in one block.
            - position (str, required): One of the positions above.
            - stages (tuple[bool], optional): Stages to apply the plugin to,
              ``num_stages`` entries. Default: all stages.

            Default: None.
        **kwargs: Every other argument of mmseg's ``ResNet``, unchanged:
            ``in_channels``, ``stem_channels``, ``base_channels``,
            ``num_stages``, ``strides``, ``dilations``, ``out_indices``,
            ``style``, ``deep_stem``, ``avg_down``, ``frozen_stages``,
            ``conv_cfg``, ``norm_cfg``, ``norm_eval``, ``dcn``,
            ``stage_with_dcn``, ``multi_grid``, ``contract_dilation``,
            ``with_cp``, ``zero_init_residual``, ``pretrained``, ``init_cfg``.
            A ``dcn`` config (e.g. ``dict(type='attnplug.SKConv')``) replaces
            conv2 of the Bottlenecks in the ``stage_with_dcn`` stages.

    Built plugins are listed by :meth:`named_plugins`.

    Example:
        >>> from attnplug.models.backbones import ResNet
        >>> import torch
        >>> self = ResNet(depth=50, base_channels=8, plugins=[
        ...     dict(cfg=dict(type='ContextBlock', ratio=1. / 4),
        ...          stages=(False, True, True, True), position='after_conv3'),
        ...     dict(cfg=dict(type='NonLocal2d'), stages=(False, False, False, True),
        ...          position='after_stage')])
        >>> [tuple(o.shape) for o in self(torch.rand(1, 3, 33, 47))]
        [(1, 32, 9, 12), (1, 64, 5, 6), (1, 128, 3, 3), (1, 256, 2, 2)]
    """

    plugin_blocks = {MMSegBasicBlock: PluginBasicBlock, MMSegBottleneck: PluginBottleneck}


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNetV1c (deep 3x3 stem, `Bag of Tricks <https://arxiv.org/abs/1812.01187>`_)
    with plugins; mmseg's ``ResNetV1c`` otherwise. Arguments as :class:`ResNet`."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=False, **kwargs)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNetV1d (deep stem and average-pool downsampling, `Bag of Tricks
    <https://arxiv.org/abs/1812.01187>`_) with plugins; mmseg's ``ResNetV1d``
    otherwise. Arguments as :class:`ResNet`."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
