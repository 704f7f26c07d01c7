"""Shuffle attention (SA).

Paper: Zhang, Yang, "SA-Net: Shuffle Attention for Deep Convolutional Neural Networks",
ICASSP 2021, arXiv 2102.00240. Official code: https://github.com/wofmanaf/SA-Net
(``models/sa_resnet.py``, class ``sa_layer``).

The ``C`` channels are split into ``G`` groups, and each group into two halves of
``C / 2G`` channels (paper Sec. 3, Fig. 2), processed with weights shared by all groups:

* channel half ``X_k1``: ``s = GAP(X_k1)`` (Eq. 1), ``X'_k1 = σ(W1 · s + b1) · X_k1`` (Eq. 2),
  ``W1, b1`` one scale and shift per channel;
* spatial half ``X_k2``: ``X'_k2 = σ(W2 · GN(X_k2) + b2) · X_k2`` (Eq. 3), GN normalising each
  channel over H × W;
* the halves are concatenated, the groups put back together, and a channel shuffle with 2
  groups mixes the two halves' channels (as in ShuffleNet V2).

The module is not an identity at init: with the official init (``W = 0``, ``b = 1``) each
channel is scaled by ``σ(1)`` and the channels are shuffled.

Departures from the official code (none in the maths):

* ``groups`` (official default 64) may be left as None: then 64 when ``2 · 64`` divides
  ``in_channels``, else the largest ``G < 64`` with ``2G`` dividing ``in_channels``, so that the
  layer builds at any even width. An explicit ``groups`` that does not fit raises a
  ``ValueError`` (the official code builds zero-sized weights or fails in a reshape);
* the global pool is a mean; state-dict keys are the official ones (``cweight``, ``cbias``,
  ``sweight``, ``sbias``, ``gn``).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from .base import AttentionMap, AttentionModule
from .contract import channel_groups


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: ``(N, g·k, H, W)`` read as ``g × k``, written as
    ``k × g``."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


@MODELS.register_module()
class ShuffleAttention(AttentionModule):
    """Shuffle attention (`SA-Net <https://arxiv.org/abs/2102.00240>`_): per group, a channel
    gate on one half and a spatial gate on the other, then a channel shuffle. Registered as
    ``attnplug.ShuffleAttention``; the plugin layer name is ``shuffle_attention``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels`` (even), any H, W. Not
    an identity at init.

    Args:
        in_channels (int): Channels of the input (and output); a multiple of ``2 · groups``.
        groups (int, optional): Number of groups ``G``; ``2G`` must divide ``in_channels``.
            Default: None, the official 64 or, when ``128`` does not divide ``in_channels``,
            the largest fitting ``G`` below 64.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'shuffle_attention'

    def __init__(self, in_channels: int, groups: Optional[int] = None, init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.groups = channel_groups('ShuffleAttention', in_channels, groups, default=64,
                                     per_group_multiple=2)
        half = in_channels // (2 * self.groups)
        # the official init: zero scales, unit shifts (each gate starts at σ(1))
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn = nn.GroupNorm(half, half)  # one group per channel

    def _halves_and_gates(self, x: torch.Tensor):
        """The two halves of every group, (N·G, C/2G, H, W) each, and their gates: the channel
        gate (N·G, C/2G, 1, 1) of Eq. 2 and the spatial gate (N·G, C/2G, H, W) of Eq. 3."""
        self.check_input(x)
        b, c, h, w = x.shape
        channel_half, spatial_half = x.reshape(b * self.groups, c // self.groups, h,
                                               w).chunk(2, dim=1)
        channel_gate = torch.sigmoid(self.cweight * channel_half.mean(dim=(2, 3), keepdim=True)
                                     + self.cbias)
        spatial_gate = torch.sigmoid(self.sweight * self.gn(spatial_half) + self.sbias)
        return channel_half, spatial_half, channel_gate, spatial_gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_half, spatial_half, channel_gate, spatial_gate = self._halves_and_gates(x)
        out = torch.cat([channel_half * channel_gate, spatial_half * spatial_gate], dim=1)
        return channel_shuffle(out.reshape(x.shape), 2)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The spatial gate of Eq. 3 averaged over every group's spatial half, (B, H, W); no
        query maps (the channel half's gate is constant over H × W)."""
        spatial_gate = self._halves_and_gates(x)[3]
        b, _, h, w = x.shape
        return [AttentionMap('spatial-half gate (Eq. 3), channel mean',
                             spatial_gate.float().reshape(b, -1, h, w).mean(1))]

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, groups={self.groups}'
