"""mmseg's FCN head with any attnplug attention layer between its convs."""
import copy
from typing import List, Optional

import torch
import torch.nn as nn
from mmseg.models.decode_heads.fcn_head import FCNHead
from torch import Tensor

from attnplug.registry import MODELS
from ..plugins import PluginHostMixin, build_plugin, plan_plugins, run_chain


@MODELS.register_module()
class AttnFCNHead(PluginHostMixin, FCNHead):
    """Fully Convolutional Networks for Semantic Segmentation, with an attention plugin.

    This head is the implementation of `FCNNet <https://arxiv.org/abs/1411.4038>`_ with a
    shape-preserving attention layer after its first conv, where mmseg's ``CCHead`` and
    ``NLHead`` place theirs: ``convs[0] -> attn -> convs[1:] -> [conv_cat] -> conv_seg``
    (with ``num_convs=0`` the attention runs on the input feature). With ``attn_cfg=None``
    it is mmseg's ``FCNHead``, key for key.

    Example::

        decode_head=dict(type='attnplug.AttnFCNHead', attn_cfg=dict(type='attnplug.CBAM'))

    Args:
        attn_cfg (dict, optional): Config of an attention layer that takes ``in_channels``
            by keyword (the plugin contract of :mod:`attnplug.testing`). The head fills
            ``in_channels = channels``. A type without a scope is looked up in attnplug's
            registry first. Default: None (no attention).
        **kwargs: Arguments of mmseg's ``FCNHead``.

    Shapes:
        (B, in_channels, H, W) feature -> (B, num_classes, H, W) logits.
    """

    ATTN_POSITION = 'after convs[0]'

    def __init__(self, attn_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        self.attn_cfg = copy.deepcopy(attn_cfg)
        self.attn = None if attn_cfg is None else self._build_attn(attn_cfg)

    def _build_attn(self, attn_cfg: dict) -> nn.Module:
        """Build ``attn_cfg`` for the ``channels``-wide feature, or fail naming the head, the
        key ``attn_cfg`` and the channels it has to fit."""
        where = f'{type(self).__name__} (channels={self.channels})'
        spec, = plan_plugins([(self.ATTN_POSITION, attn_cfg, 'attn_cfg')],
                             {self.ATTN_POSITION: self.channels}, where, registry=MODELS)
        return build_plugin(spec)[1]

    def plugin_modules(self) -> List[nn.Module]:
        """list[nn.Module]: The attention layer, if any (for the init repair of
        :class:`~attnplug.models.plugins.PluginHostMixin`)."""
        return [] if self.attn is None else [self.attn]

    def _forward_feature(self, inputs: List[Tensor]) -> Tensor:
        """The (B, channels, H, W) feature before ``conv_seg``."""
        x = self._transform_inputs(inputs)
        convs = list(self.convs) if self.num_convs > 0 else []
        feats = convs[0](x) if convs else x
        if self.attn is not None:
            feats = run_chain([('attn', self.attn)], feats,
                              lambda: f'{self.ATTN_POSITION!r} of {type(self).__name__}')
        for conv in convs[1:]:
            feats = conv(feats)
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats
