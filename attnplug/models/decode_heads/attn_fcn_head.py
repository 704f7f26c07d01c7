"""mmseg's FCN head with any attnplug attention layer between its convs."""
import copy
from typing import List, Optional

import torch
import torch.nn as nn
from mmseg.models.decode_heads.fcn_head import FCNHead
from torch import Tensor

from attnplug.registry import MODELS


@MODELS.register_module()
class AttnFCNHead(FCNHead):
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

    def __init__(self, attn_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        self.attn_cfg = copy.deepcopy(attn_cfg)
        self.attn = None if attn_cfg is None else self._build_attn(attn_cfg)

    def _build_attn(self, attn_cfg: dict) -> nn.Module:
        """Build ``attn_cfg`` for the ``channels``-wide feature, or fail naming the head, the
        key ``attn_cfg`` and the channels it has to fit."""
        shown = dict(attn_cfg) if isinstance(attn_cfg, dict) else attn_cfg
        where = f'{type(self).__name__}: attn_cfg={shown!r}'
        if not isinstance(attn_cfg, dict) or 'type' not in attn_cfg:
            raise TypeError(f'{where} must be a dict with a "type" key, e.g. '
                            f"dict(type='attnplug.CBAM') (the head fills "
                            f'in_channels={self.channels})')
        cfg = dict(attn_cfg)
        in_channels = cfg.setdefault('in_channels', self.channels)
        if in_channels != self.channels:
            raise ValueError(
                f'{where} does not fit: the attention runs on the {self.channels}-channel '
                f'output of convs[0] (channels={self.channels}), not on {in_channels}. Leave '
                f'in_channels out of attn_cfg (the head fills it) or set it to {self.channels}.')
        try:
            if isinstance(cfg['type'], str):
                cls = MODELS.get(cfg['type'])
                if cls is None:
                    raise KeyError(f'"{cfg["type"]}" is not registered in any scope')
                cfg['type'] = cls
            return MODELS.build(cfg)
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            # the same exception, its message led by the head and the key: its class,
            # traceback and cause stay as they were (no new instance of an unknown signature)
            err.args = (f'{where} cannot be built as a shape-preserving attention on the '
                        f'head\'s {self.channels}-channel feature (in_channels='
                        f'{self.channels}): {err}',)
            raise

    def _forward_feature(self, inputs: List[Tensor]) -> Tensor:
        """The (B, channels, H, W) feature before ``conv_seg``."""
        x = self._transform_inputs(inputs)
        convs = list(self.convs) if self.num_convs > 0 else []
        feats = convs[0](x) if convs else x
        if self.attn is not None:
            feats = self.attn(feats)
        for conv in convs[1:]:
            feats = conv(feats)
        if self.concat_input:
            feats = self.conv_cat(torch.cat([x, feats], dim=1))
        return feats
