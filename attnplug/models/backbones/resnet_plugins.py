"""Plugin support for the OpenMMLab ResNet family, independent of the framework.

The mixins here add plugin slots to mmseg's ResNet (:mod:`.resnet`) and to mmdet's
(:mod:`.det_resnet`) alike; this module imports neither framework, so each adapter
needs only its own. What the slots fix in mmseg 1.2.2 and mmdet 3.3.0 is in
:mod:`.resnet` and docs/backbone_hooks.md.
"""
from typing import Dict, Iterator, NamedTuple, Optional, Sequence
import warnings

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import ModuleDict

from ..plugins import (PluginChain, PluginHostMixin, check_plugin_list, in_stage, plan_plugins,
                       run_plugins)

__all__ = [
    'STAGE_POSITION', 'PluginRecord', 'BlockPluginMixin', 'BasicBlockPluginMixin',
    'BottleneckPluginMixin', 'ResNetPluginMixin'
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


class BlockPluginMixin(PluginHostMixin):
    """Plugin slots for a ResNet block. Subclasses set ``plugin_positions`` and
    ``plugin_channels(planes)``; the constructor's arguments are mmseg's and mmdet's block
    arguments, ``plugins`` in mmcv's ``dict(cfg, position)`` form, and ``plugin_where``: the
    stage the block belongs to, for messages (the parent ResNet passes it to each block through
    ``make_res_layer`` and ``ResLayer``, which hand their extra keyword arguments to the
    blocks)."""

    plugin_positions: Sequence[str] = ()

    @classmethod
    def plugin_channels(cls, planes: int) -> Dict[str, int]:
        raise NotImplementedError

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None, style='pytorch',
                 with_cp=False, conv_cfg=None, norm_cfg=dict(type='BN'), dcn=None, plugins=None,
                 init_cfg=None, plugin_where: Optional[str] = None):
        block = f'{type(self).__name__}(inplanes={inplanes}, planes={planes})'
        where = f'{plugin_where}, {block}' if plugin_where else block
        checked = check_plugin_list(plugins, self.plugin_positions, None, where)
        specs = plan_plugins([(p['position'], p['cfg'], p['key']) for p in checked],
                             self.plugin_channels(planes), where)
        # ``dcn`` goes through unchanged: the parent builds conv2 from it (popping
        # ``fallback_on_stride`` exactly as mmseg/mmdet do). The parent gets no plugins: the
        # stock BasicBlock refuses them, the stock Bottleneck would build them unchained.
        super().__init__(inplanes, planes, stride=stride, dilation=dilation,
                         downsample=downsample, style=style, with_cp=with_cp, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, dcn=dcn, plugins=None, init_cfg=init_cfg)
        self.plugins = plugins
        self.with_plugins = bool(specs)
        self._add_plugins(specs, self.plugin_positions, where)
        # The attribute names mmseg's and mmdet's Bottleneck use.
        for position in self.plugin_positions:
            setattr(self, f'{position}_plugin_names', self.plugin_names[position])

    # Restates BasicBlock.forward and Bottleneck.forward of mmseg 1.2.2
    # (mmseg/models/backbones/resnet.py) and mmdet 3.3.0 (mmdet/models/backbones/resnet.py),
    # which have no slot after a BasicBlock conv and call a Bottleneck's plugins unchained;
    # tests/test_internals_contract.py fails when those upstream forwards change.
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stock block's forward with the plugins chained in: conv ``i``, norm ``i``
        (ReLU after each but the last), then the plugins at ``plugin_positions[i - 1]``; the
        residual sum and the final ReLU as in mmseg and mmdet (``with_cp`` included)."""
        names = self.plugin_names
        last = len(self.plugin_positions)

        def _inner_forward(x):
            out = x
            for i, position in enumerate(self.plugin_positions, 1):
                out = getattr(self, f'norm{i}')(getattr(self, f'conv{i}')(out))
                if i < last:
                    out = self.relu(out)
                if names[position]:
                    out = run_plugins(self, names[position], out, position)
            identity = x if self.downsample is None else self.downsample(x)
            # Out of place: a plugin may have saved its output for backward.
            return out + identity

        if self.with_cp and x.requires_grad:
            out = _checkpointed(_inner_forward, x)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class BasicBlockPluginMixin(BlockPluginMixin):
    """Plugins for a ResNet ``BasicBlock`` (two 3x3 convs): ``after_conv1``
    (after conv1-norm1-ReLU, ``planes`` channels) and ``after_conv2`` (after
    conv2-norm2, before the residual sum, ``planes`` channels)."""

    plugin_positions = ('after_conv1', 'after_conv2')

    @classmethod
    def plugin_channels(cls, planes: int) -> Dict[str, int]:
        return {'after_conv1': planes, 'after_conv2': planes * cls.expansion}


class BottleneckPluginMixin(BlockPluginMixin):
    """Plugins for a ResNet ``Bottleneck`` (1x1, 3x3, 1x1 convs):
    ``after_conv1`` (after conv1-norm1-ReLU, ``planes`` channels),
    ``after_conv2`` (after conv2-norm2-ReLU, ``planes`` channels) and
    ``after_conv3`` (after conv3-norm3, before the residual sum,
    ``planes * 4`` channels). The ``dcn`` slot (conv2) works as in mmseg."""

    plugin_positions = ('after_conv1', 'after_conv2', 'after_conv3')

    @classmethod
    def plugin_channels(cls, planes: int) -> Dict[str, int]:
        return {'after_conv1': planes, 'after_conv2': planes, 'after_conv3': planes * cls.expansion}


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
            list[dict]: ``dict(cfg, position)`` for every block of the stage (mmcv's form).
        """
        checked = check_plugin_list(plugins, self.valid_plugin_positions, self.num_stages,
                                    type(self).__name__)
        block_plugins = [p for p in checked
                         if p['position'] != STAGE_POSITION and in_stage(p, stage_idx)]
        if block_plugins:
            planes = self.base_channels * 2**stage_idx
            # Fail here, naming the stage and the backbone's config keys, before any block
            # is built.
            plan_plugins([(p['position'], p['cfg'], p['key']) for p in block_plugins],
                         self._plugin_block(self.block).plugin_channels(planes),
                         self._stage_where(stage_idx))
        return [dict(cfg=p['cfg'], position=p['position']) for p in block_plugins]

    def make_res_layer(self, **kwargs):
        """Pack a stage's blocks into a ``ResLayer``, using plugin-capable blocks that know
        their stage (``planes = base_channels * 2**stage``, as mmseg's and mmdet's ResNet set
        it) for their messages."""
        kwargs['block'] = self._plugin_block(kwargs['block'])
        stage_idx = (kwargs['planes'] // self.base_channels).bit_length() - 1
        if kwargs['planes'] == self.base_channels * 2**stage_idx:
            kwargs['plugin_where'] = self._stage_where(stage_idx)
        return super().make_res_layer(**kwargs)

    def stage_out_channels(self, stage_idx: int) -> int:
        """int: Channels of stage ``stage_idx``'s output (its ``'after_stage'`` in_channels)."""
        return self.base_channels * 2**stage_idx * self.block.expansion

    def _build_stage_plugins(self):
        checked = self._checked_plugins()
        chains = {}
        for i, layer_name in enumerate(self.res_layers):
            entries = [(p['position'], p['cfg'], p['key']) for p in checked
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

    # mmseg 1.2.2's ResNet.forward (mmseg/models/backbones/resnet.py; mmdet 3.3.0's is the
    # same), with the 'after_stage' chains inserted: it offers no place between two stages.
    # tests/test_internals_contract.py fails when that upstream forward changes.
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
