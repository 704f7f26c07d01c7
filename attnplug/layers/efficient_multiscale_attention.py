"""EMA: efficient multi-scale attention with cross-spatial learning.

Paper: Ouyang et al., "Efficient Multi-Scale Attention Module with Cross-Spatial Learning",
ICASSP 2023, arXiv 2305.13563. Official code: https://github.com/YOLOonMe/EMA-attention-module
(file ``EMA_attention_module``, class ``EMA``). Not to be confused with mmseg's EMAHead
(expectation-maximisation attention).

The input ``X`` of ``C`` channels is split into ``G`` groups of ``C / G`` channels, each
processed on its own (the batch and group axes are merged), with shared weights:

* **1×1 branch** (coordinate-attention-like): average-pool each group along W and along H,
  run one 1×1 conv on the two descriptors concatenated, split them again and gate:
  ``X1 = GN(X · σ(z_h) · σ(z_w))``, GN normalising each channel over H × W;
* **3×3 branch**: ``X2 = conv3x3(X)``;
* **cross-spatial learning**: each branch's global average, softmaxed over the group's
  channels, weighs the *other* branch's channels into one spatial map,
  ``A = softmax(GAP(X1))ᵀ X2 + softmax(GAP(X2))ᵀ X1``, ``(H, W)`` per group;
* output ``Y = X · σ(A)``, one spatial gate per group.

Everything is linear in ``N = H·W``; the module has no N×N tensor. It is not an identity at
init (a product with sigmoid gates), and has no residual gain.

Departures from the official code (none in the maths):

* ``groups`` is the official ``factor`` (default 32); with ``groups=None`` it is 32 when 32
  divides ``in_channels`` and otherwise the largest divisor below 32, so that the layer builds
  at any width. An explicit ``groups`` that does not divide ``in_channels`` raises a
  ``ValueError`` (the official code fails later, in a reshape);
* the pools are means (the official ``AdaptiveAvgPool2d``) and the softmaxes run in fp32;
* state-dict keys are the official ones (``conv1x1``, ``conv3x3``, ``gn``).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from .base import AttentionMap, AttentionModule
from .contract import channel_groups


@MODELS.register_module()
class EfficientMultiScaleAttention(AttentionModule):
    """Efficient multi-scale attention (`EMA <https://arxiv.org/abs/2305.13563>`_): grouped
    1×1 and 3×3 branches whose cross-spatial product gates each group. Registered as
    ``attnplug.EfficientMultiScaleAttention``; the plugin layer name is ``ema``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W. Not an
    identity at init.

    Args:
        in_channels (int): Channels of the input (and output).
        groups (int, optional): Number of groups ``G`` (the official ``factor``); must
            divide ``in_channels``. Default: None, the official 32 or, when 32 does not divide
            ``in_channels``, the largest divisor of ``in_channels`` below 32.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'ema'

    def __init__(self, in_channels: int, groups: Optional[int] = None, init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.groups = channel_groups('EfficientMultiScaleAttention', in_channels, groups,
                                     default=32)
        width = in_channels // self.groups
        self.conv1x1 = nn.Conv2d(width, width, kernel_size=1)
        self.conv3x3 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.gn = nn.GroupNorm(width, width)  # one group per channel

    def _spatial_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``A`` of the cross-spatial learning, (N·G, 1, H, W), and the grouped input."""
        self.check_input(x)
        b, c, h, w = x.shape
        grouped = x.reshape(b * self.groups, c // self.groups, h, w)
        # 1×1 branch: directional pools, one shared conv, split and gate
        pooled_h = grouped.mean(dim=3, keepdim=True)  # (NG, c, H, 1)
        pooled_w = grouped.mean(dim=2, keepdim=True).transpose(2, 3)  # (NG, c, W, 1)
        hw = self.conv1x1(torch.cat([pooled_h, pooled_w], dim=2))
        gate_h, gate_w = torch.split(hw, [h, w], dim=2)
        x1 = self.gn(grouped * gate_h.sigmoid() * gate_w.transpose(2, 3).sigmoid())
        x2 = self.conv3x3(grouped)  # 3×3 branch
        # cross-spatial learning: each branch's channel softmax weighs the other branch
        w1 = x1.float().mean(dim=(2, 3)).softmax(dim=-1).unsqueeze(1)  # (NG, 1, c)
        w2 = x2.float().mean(dim=(2, 3)).softmax(dim=-1).unsqueeze(1)
        logits = (torch.matmul(w1.to(x2.dtype), x2.flatten(2))
                  + torch.matmul(w2.to(x1.dtype), x1.flatten(2)))  # (NG, 1, H·W)
        return logits.reshape(b * self.groups, 1, h, w), grouped

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, grouped = self._spatial_logits(x)
        return (grouped * logits.sigmoid()).reshape(x.shape)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The gate ``σ(A)`` averaged over the groups, (B, H, W); no query maps."""
        logits, _ = self._spatial_logits(x)
        b, _, h, w = x.shape
        gate = logits.sigmoid().float().reshape(b, self.groups, h, w)
        return [AttentionMap('cross-spatial gate sigmoid(A), group mean', gate.mean(1))]

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, groups={self.groups}'
