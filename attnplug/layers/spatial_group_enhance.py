"""Spatial group-wise enhance (SGE).

Paper: Li, Hu, Yang, "Spatial Group-wise Enhance: Improving Semantic Feature Learning in
Convolutional Networks", 2019, arXiv 1905.09646. Official code:
https://github.com/implus/PytorchInsight (``classification/models/imagenet/resnet_sge.py``,
class ``SpatialGroupEnhance``).

The ``C`` channels are split into ``G`` groups (semantic sub-features, paper Sec. 3). In each
group, with ``x_i`` the ``C / G``-vector at position ``i`` of ``m = H·W``:

* ``g = (1/m) Σ_i x_i``, the group's global average (Eq. 1);
* ``c_i = g · x_i``, each position's similarity to it (Eq. 2);
* ``ĉ_i = (c_i - μ_c) / (σ_c + ε)``, normalised over the ``m`` positions (Eq. 3);
* ``a_i = γ ĉ_i + β``, one ``γ, β`` per group (Eq. 4);
* ``x̂_i = x_i · σ(a_i)`` (Eq. 5): one spatial gate per group.

Everything is linear in ``m``. The module is not an identity at init: with the official init
(``γ = 0``, ``β = 1``) every position is scaled by ``σ(1)``.

Departures from the paper and the official code:

* ``σ_c`` is the unbiased standard deviation (``torch.std``, dividing by ``m - 1``) as in the
  official code; the paper writes ``1/m``. ``ε = 1e-5`` is added to ``σ_c``, as in both;
* a 1×1 map (``m = 1``) gives ``ĉ = 0`` where the official code divides 0 by NaN;
* the statistics ``c``, ``μ_c``, ``σ_c`` are computed in fp32 (under fp16 autocast a sum of
  products over the group's channels can overflow);
* ``groups`` (official 64) may be left as None: then 64 when it divides ``in_channels``, else
  the largest divisor below 64, so that the layer builds at any width. An explicit ``groups``
  that does not divide ``in_channels`` raises a ``ValueError`` (the official code fails in a
  ``view``);
* state-dict keys are the official ``weight`` (``γ``) and ``bias`` (``β``), each
  ``(1, G, 1, 1)``.
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from .base import AttentionMap, AttentionModule
from .contract import channel_groups


@MODELS.register_module()
class SpatialGroupEnhance(AttentionModule):
    """Spatial group-wise enhance (`SGE <https://arxiv.org/abs/1905.09646>`_): one spatial
    gate per channel group, from each position's similarity to the group's mean. Registered
    as ``attnplug.SpatialGroupEnhance``; the plugin layer name is ``sge``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W. Not an
    identity at init.

    Args:
        in_channels (int): Channels of the input (and output); a multiple of ``groups``.
        groups (int, optional): Number of groups ``G``; must divide ``in_channels``.
            Default: None, the official 64 or, when 64 does not divide ``in_channels``, the
            largest divisor of ``in_channels`` below 64.
        eps (float): ``ε`` added to the standard deviation (Eq. 3). Default: 1e-5.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'sge'

    def __init__(self, in_channels: int, groups: Optional[int] = None, eps: float = 1e-5,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.groups = channel_groups('SpatialGroupEnhance', in_channels, groups, default=64)
        self.eps = eps
        # the official init: γ = 0, β = 1
        self.weight = nn.Parameter(torch.zeros(1, self.groups, 1, 1))
        self.bias = nn.Parameter(torch.ones(1, self.groups, 1, 1))

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        """``σ(a)`` of Eq. 5, (N, G, H, W) in ``x``'s dtype."""
        self.check_input(x)
        b, c, h, w = x.shape
        grouped = x.float().reshape(b, self.groups, c // self.groups, h * w)
        mean = grouped.mean(dim=3, keepdim=True)  # g, Eq. 1
        similarity = (grouped * mean).sum(dim=2)  # c_i, Eq. 2: (N, G, m)
        centred = similarity - similarity.mean(dim=2, keepdim=True)
        # the official torch.std (m - 1); m = 1 leaves the centred value 0
        std = (centred.square().sum(dim=2, keepdim=True) / max(h * w - 1, 1)).sqrt()
        normalised = (centred / (std + self.eps)).reshape(b, self.groups, h, w)  # Eq. 3
        return torch.sigmoid(normalised * self.weight + self.bias).to(x.dtype)  # Eq. 4-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        gate = self._gate(x).unsqueeze(2)  # (N, G, 1, H, W)
        return (x.reshape(b, self.groups, c // self.groups, h, w) * gate).reshape(b, c, h, w)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The gate ``σ(a)`` of Eq. 5 averaged over the groups, (B, H, W); no query maps."""
        return [AttentionMap('group gate sigmoid(a), group mean', self._gate(x).float().mean(1))]

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, groups={self.groups}, eps={self.eps}'
