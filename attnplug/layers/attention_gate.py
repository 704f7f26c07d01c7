"""Additive attention gate of Attention U-Net.

Paper: Oktay, Schlemper, Le Folgoc, Lee, Heinrich, Misawa, Mori, McDonagh,
Hammerla, Kainz, Glocker, Rueckert, "Attention U-Net: Learning Where to Look
for the Pancreas", MIDL 2018, arXiv 1804.03999. Official code:
https://github.com/ozan-oktay/Attention-Gated-Networks

The gate (paper Sec. 2, Eq. 1-2) weights a skip feature ``x`` with a map
computed from ``x`` and a coarser gating signal ``g``:

* ``q = psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi``;
* ``alpha = sigmoid(q)`` of shape ``(N, 1, H, W)``;
* the output is ``x * alpha``.

``W_x``, ``W_g`` and ``psi`` are 1x1 convolutions (linear transformations).

How ``g`` is aligned to ``x`` (a departure from the paper): the paper and the
official code stride ``W_x`` down to ``g``'s grid and upsample ``alpha`` back.
Here ``W_g g`` is resized bilinearly (``align_corners=False``) to ``x``'s
``H x W`` and the sum is formed at full resolution, so ``alpha`` is computed at
the skip's own resolution and any size ratio works (e.g. x 23x31 with g 12x16).
Bilinear resizing and a 1x1 conv commute (both are linear, and the resize
weights sum to 1 so the bias is kept), so this equals Eq. 1 with ``g``
upsampled to ``x``'s grid. It costs a full-resolution ``W_x`` instead of a
strided one. Like the paper's equations, there is no batch norm (the official
code adds one to an output transform).
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, hidden_width
from .base import AttentionMap, AttentionModule
from .contract import check_channels


@MODELS.register_module()
class AttentionGate(AttentionModule):
    """Additive attention gate (`Attention U-Net <https://arxiv.org/abs/1804.03999>`_)
    for a U-Net skip connection. Registered as ``attnplug.AttentionGate``.

    ``forward(x, g)`` takes the skip feature ``x`` ``(N, in_channels, H, W)`` and
    the gating signal ``g`` ``(N, gating_channels, h, w)`` (any ``h x w``, usually
    the coarser decoder feature) and returns the gated skip ``x * alpha``,
    ``(N, in_channels, H, W)``. The attention ``alpha`` ``(N, 1, H, W)`` is
    returned too with ``return_attention=True`` (with its graph, e.g. for a loss
    on it); :meth:`attention_maps` gives it for visualisation.

    Args:
        in_channels (int): Channels of the skip feature ``x``.
        gating_channels (int): Channels of the gating signal ``g`` (required: the
            gate is not a one-input plugin).
        hidden_channels (int, optional): Width ``F_int`` of the additive
            attention; None uses ``max(in_channels // 2, 1)``. Default: None.
        act_cfg (str | dict): ``sigma_1`` of Eq. 1. Default: dict(type='ReLU').
        gate_cfg (str | dict): ``sigma_2`` of Eq. 2. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'attention_gate'

    def __init__(self,
                 in_channels: int,
                 gating_channels: int,
                 hidden_channels: Optional[int] = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.gating_channels = gating_channels
        hidden = self.hidden_channels = hidden_width(in_channels, 2, hidden_channels,
                                                     owner='AttentionGate')
        # b_g of Eq. 1 sits in W_g; W_x carries no bias of its own
        self.theta_x = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.phi_g = nn.Conv2d(gating_channels, hidden, 1, bias=True)
        self.act = build_activation(act_cfg)
        self.psi = nn.Conv2d(hidden, 1, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def _alpha(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``alpha`` of Eq. 1-2, (N, 1, H, W)."""
        self.check_input(x)
        check_channels(self, g, self.gating_channels, key='gating_channels')
        if g.shape[0] != x.shape[0]:
            raise ValueError(f'AttentionGate: x and g batch sizes differ '
                             f'({x.shape[0]} vs {g.shape[0]})')
        gating = self.phi_g(g)
        if gating.shape[2:] != x.shape[2:]:
            gating = F.interpolate(gating, size=x.shape[2:], mode='bilinear',
                                   align_corners=False)
        return self.gate(self.psi(self.act(self.theta_x(x) + gating)))  # Eq. 1-2

    def forward(self,
                x: torch.Tensor,
                g: torch.Tensor,
                return_attention: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        alpha = self._alpha(x, g)
        out = x * alpha
        return (out, alpha) if return_attention else out

    @classmethod
    def for_channels(cls, in_channels: int) -> 'AttentionGate':
        """A gate for a U-Net skip of ``in_channels``, gated by a decoder feature of twice as
        many channels (the U-Net's doubling)."""
        return cls(in_channels, gating_channels=2 * in_channels)

    def example_inputs(self, batch: int, height: int, width: int):
        """A skip feature and a gating signal at half its resolution."""
        return (torch.randn(batch, self.in_channels, height, width),
                torch.randn(batch, self.gating_channels, (height + 1) // 2, (width + 1) // 2))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, g: torch.Tensor, *,
                       queries=()) -> List[AttentionMap]:
        """The gate ``alpha`` (Eq. 2), (B, H, W); no query maps."""
        return [AttentionMap('gate alpha', self._alpha(x, g)[:, 0].float())]
