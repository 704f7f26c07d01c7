"""FPN with an attention block on each lateral and/or each output level.

FPN: Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017,
arXiv 1612.03144. The attention block is any attnplug (or mmcv) plugin that
keeps its input's shape, e.g. CBAM (Woo et al., ECCV 2018, arXiv 1807.06521).

mmdet 3.3.0's and mmseg 1.2.2's ``FPN`` build the same modules under the same
keys (``lateral_convs.<i>``, ``fpn_convs.<i>``) and compute the same outputs,
except in two arguments:

* ``end_level``: inclusive in mmdet, exclusive in mmseg (both: -1 = last);
* ``add_extra_convs=True``: ``'on_input'`` in mmdet; in mmseg ``'on_output'``
  unless the deprecated ``extra_convs_on_inputs=True``.

No stock mmseg config sets either one, so ``AttentionFPN`` (built on mmdet's
FPN, the detection standard) serves mmdet and mmseg configs alike;
``SegAttentionFPN`` keeps mmseg's meaning of those two arguments.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ModuleList

from attnplug.frameworks import require
from attnplug.registry import MODELS
from ..plugins import PluginHostMixin, build_plugin, check_cfg, check_choice, plan_plugins, run_chain

__all__ = ['AttentionFPNMixin']  # + AttentionFPN, SegAttentionFPN where their framework is

ATTN_POSITIONS = ('lateral', 'output', 'both')


class AttentionFPNMixin(PluginHostMixin):
    """Adds attention blocks to an FPN class with mmdet's/mmseg's attributes
    (``lateral_convs``, ``fpn_convs``, ``start_level``, ``backbone_end_level``,
    ``upsample_cfg``, ``add_extra_convs``, ...) and replaces its forward.

    Where the blocks sit, for each backbone level used (``backbone_end_level -
    start_level`` of them), all with ``out_channels`` channels:

    * ``'lateral'``: after the level's 1x1 lateral conv, before the top-down
      sum, so each level's own contribution is re-weighted (``lateral_attns``);
    * ``'output'``: after the level's 3x3 FPN conv (``output_attns``). Extra
      levels (max-pool, or stride-2 convs ``'on_output'``) are derived from the
      attended top output and get no block of their own;
    * ``'both'``: both of the above.
    """

    def __init__(self, *args, attn_cfg: Optional[dict] = None,
                 attn_position: str = 'output', **kwargs):
        super().__init__(*args, **kwargs)
        name = type(self).__name__
        check_choice(attn_position, ATTN_POSITIONS, name, 'attn_position')
        self.attn_cfg = attn_cfg
        self.attn_position = attn_position
        self.lateral_attns: Optional[ModuleList] = None
        self.output_attns: Optional[ModuleList] = None
        if attn_cfg is None:
            return
        check_cfg(attn_cfg, name, 'attn_cfg')
        num_levels = self.backbone_end_level - self.start_level
        if attn_position in ('lateral', 'both'):
            self.lateral_attns = self._build_attns(attn_cfg, num_levels, 'lateral')
        if attn_position in ('output', 'both'):
            self.output_attns = self._build_attns(attn_cfg, num_levels, 'output')

    def _build_attns(self, attn_cfg: dict, num_levels: int, position: str) -> ModuleList:
        spec, = plan_plugins([(position, attn_cfg, 'attn_cfg')], {position: self.out_channels},
                             f'{type(self).__name__} (out_channels={self.out_channels})')
        return ModuleList([build_plugin(spec)[1] for _ in range(num_levels)])

    def plugin_modules(self) -> List[nn.Module]:
        """list[nn.Module]: The attention blocks, lateral ones first (for the init repair of
        :class:`~attnplug.models.plugins.PluginHostMixin`)."""
        return [block for attns in (self.lateral_attns, self.output_attns) for block in attns or ()]

    def _attend(self, block: nn.Module, x: torch.Tensor, position: str,
                level: int) -> torch.Tensor:
        return run_chain([(f'{position}_attns.{level}', block)], x,
                         lambda: f'{position!r} of {type(self).__name__} level {level}')

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Forward function.

        Args:
            inputs (Sequence[Tensor]): Backbone features, one per entry of
                ``in_channels``: ``(N, in_channels[i], H_i, W_i)``.

        Returns:
            tuple[Tensor]: ``num_outs`` maps ``(N, out_channels, H_j, W_j)``,
            finest first, as the plain FPN.
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'{type(self).__name__}: expected {len(self.in_channels)} input levels '
                f'(in_channels={self.in_channels}), got {len(inputs)}')
        laterals: List[torch.Tensor] = [
            conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)
        ]
        if self.lateral_attns is not None:
            laterals = [self._attend(block, lat, 'lateral', i)
                        for i, (block, lat) in enumerate(zip(self.lateral_attns, laterals))]
        # top-down path (FPN Sec. 3); out of place, so that autograd keeps each lateral
        used_levels = len(laterals)
        for i in range(used_levels - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                   **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        outs = [self.fpn_convs[i](laterals[i]) for i in range(used_levels)]
        if self.output_attns is not None:
            outs = [self._attend(block, out, 'output', i)
                    for i, (block, out) in enumerate(zip(self.output_attns, outs))]
        # extra levels, as in the plain FPN
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                for _ in range(self.num_outs - used_levels):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                if self.add_extra_convs == 'on_input':
                    extra_source = inputs[self.backbone_end_level - 1]
                elif self.add_extra_convs == 'on_lateral':
                    extra_source = laterals[-1]
                elif self.add_extra_convs == 'on_output':
                    extra_source = outs[-1]
                else:
                    raise NotImplementedError(self.add_extra_convs)
                outs.append(self.fpn_convs[used_levels](extra_source))
                for i in range(used_levels + 1, self.num_outs):
                    source = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](source))
        return tuple(outs)


# Each FPN needs only its own framework (attnplug[det] / attnplug[seg]).
if require('mmdet', 'AttentionFPN'):
    from mmdet.models.necks import FPN as MMDetFPN
    __all__.append('AttentionFPN')

    @MODELS.register_module()
    class AttentionFPN(AttentionFPNMixin, MMDetFPN):
        """Feature Pyramid Network with attention on its levels.

        This neck is the implementation of `Feature Pyramid Networks
        <https://arxiv.org/abs/1612.03144>`_ (mmdet's ``FPN``) with an attention
        block, e.g. `CBAM <https://arxiv.org/abs/1807.06521>`_, on each lateral
        and/or output level. Registered as ``attnplug.AttentionFPN``; a drop-in
        for ``type='FPN'`` in mmdet configs and in mmseg configs (they use only
        the arguments both FPNs share; see :class:`SegAttentionFPN` otherwise).

        Args:
            in_channels (list[int]): Channels of each input level.
            out_channels (int): Channels of every output level.
            num_outs (int): Number of output levels.
            start_level, end_level, add_extra_convs, relu_before_extra_convs,
                no_norm_on_lateral, conv_cfg, norm_cfg, act_cfg, upsample_cfg,
                init_cfg: As in mmdet's ``FPN``, with the same defaults
                (``end_level`` inclusive; ``add_extra_convs=True`` is
                ``'on_input'``).
            attn_cfg (dict, optional): Config of the attention block, e.g.
                ``dict(type='attnplug.CBAM', reduction=16)``. The type is looked
                up like a backbone plugin's (the current scope and its parents, or
                ``'attnplug.<Name>'`` from anywhere); ``in_channels`` is set to
                ``out_channels``. None gives the plain FPN (same modules, keys and
                outputs). Default: None.
            attn_position (str): ``'lateral'``, ``'output'`` or ``'both'``: where
                the blocks go (see :class:`AttentionFPNMixin`). Default: 'output'.

        Example:
            >>> import torch
            >>> from attnplug.models.necks import AttentionFPN
            >>> self = AttentionFPN([8, 16], 4, num_outs=3,
            ...                     attn_cfg=dict(type='attnplug.CBAM', reduction=2))
            >>> outs = self([torch.rand(1, 8, 24, 40), torch.rand(1, 16, 12, 20)])
            >>> [tuple(o.shape) for o in outs]
            [(1, 4, 24, 40), (1, 4, 12, 20), (1, 4, 6, 10)]
        """

if require('mmseg', 'SegAttentionFPN'):
    from mmseg.models.necks import FPN as MMSegFPN
    __all__.append('SegAttentionFPN')

    @MODELS.register_module()
    class SegAttentionFPN(AttentionFPNMixin, MMSegFPN):
        """mmseg's Feature Pyramid Network with attention on its levels.

        As :class:`AttentionFPN` (same ``attn_cfg`` and ``attn_position``), but
        built on mmseg's ``FPN``, whose ``end_level`` is exclusive and whose
        ``add_extra_convs=True`` means ``'on_output'`` unless the deprecated
        ``extra_convs_on_inputs=True``. Registered as ``attnplug.SegAttentionFPN``
        for mmseg configs that rely on those two meanings.

        Args:
            in_channels, out_channels, num_outs, start_level, end_level,
                add_extra_convs, extra_convs_on_inputs, relu_before_extra_convs,
                no_norm_on_lateral, conv_cfg, norm_cfg, act_cfg, upsample_cfg,
                init_cfg: As in mmseg's ``FPN``, with the same defaults.
            attn_cfg (dict, optional): As in :class:`AttentionFPN`. Default: None.
            attn_position (str): As in :class:`AttentionFPN`. Default: 'output'.
        """
