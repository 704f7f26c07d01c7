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
strided one. Like the paper's equations, there is no output transform.

The authors' released code (ozan-oktay/Attention-Gated-Networks@eee4881f,
``models/layers/grid_attention_layer.py``, ``_GridAttentionBlockND`` in ``'concatenation'``
mode, which ``GridAttentionBlock2D`` builds; their Attention U-Nets use its 3D twin with
``sub_sample_factor=(2, 2, 2)``) departs from the equations; ``variant='authors'``
reproduces its 2D block with ``sub_sample_factor=(2, 2)``:

* ``W_x`` is a strided 2x2 conv without bias (``theta``, lines 53-54), ``W_g g`` is resized
  bilinearly to that half-resolution grid (line 96), ``alpha`` is computed there and resized
  bilinearly back to ``x``'s size (line 103);
* the gated feature goes through an output transform ``W``, a 1x1 conv with bias and a
  BatchNorm (lines 47-50, 104-105): the output is ``BN(conv1x1(alpha * x))``.

Their ``F.upsample(..., mode='bilinear')`` passes no ``align_corners``: since PyTorch 0.4.0
that means ``align_corners=False``, which this variant uses (PyTorch < 0.4 aligned corners).
Their Kaiming init (``init_weights(m, init_type='kaiming')``, lines 60-61) is not reproduced.
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, check_variant, hidden_width
from .base import AttentionMap, AttentionModule
from .contract import check_channels


@MODELS.register_module()
class AttentionGate(AttentionModule):
    """Additive attention gate (`Attention U-Net <https://arxiv.org/abs/1804.03999>`_)
    for a U-Net skip connection. Registered as ``attnplug.AttentionGate``.

    ``forward(x, g)`` takes the skip feature ``x`` ``(N, in_channels, H, W)`` and
    the gating signal ``g`` ``(N, gating_channels, h, w)`` (any ``h x w``, usually
    the coarser decoder feature) and returns the gated skip ``x * alpha`` (in the authors'
    variant ``BN(conv1x1(x * alpha))``),
    ``(N, in_channels, H, W)``. The attention ``alpha`` ``(N, 1, H, W)`` is
    returned too with ``return_attention=True`` (with its graph, e.g. for a loss
    on it); :meth:`attention_maps` gives it for visualisation.

    Args:
        in_channels (int): Channels of the skip feature ``x``.
        gating_channels (int): Channels of the gating signal ``g`` (required: the
            gate is not a one-input plugin).
        hidden_channels (int, optional): Width ``F_int`` of the additive
            attention; None uses ``max(in_channels // 2, 1)``. Default: None.
        variant (str): ``'paper'`` (Eq. 1-2 at ``x``'s resolution) or ``'authors'``: the
            released ``GridAttentionBlock2D``, with a strided 2x2 ``theta_x`` (its weight
            is ``(hidden, C, 2, 2)``) and an output transform, the keys
            ``output_transform.0.*`` (1x1 conv) and ``output_transform.1.*`` (BN).
            Default: 'paper'.
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
                 variant: str = 'paper',
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.gating_channels = gating_channels
        hidden = self.hidden_channels = hidden_width(in_channels, 2, hidden_channels,
                                                     owner='AttentionGate')
        self.variant = check_variant(variant, 'AttentionGate')
        # b_g of Eq. 1 sits in W_g; W_x carries no bias of its own. The authors' theta is a
        # strided 2x2 conv (grid_attention_layer.py:53-54)
        theta_size = 2 if variant == 'authors' else 1
        self.theta_x = nn.Conv2d(in_channels, hidden, theta_size, stride=theta_size, bias=False)
        self.phi_g = nn.Conv2d(gating_channels, hidden, 1, bias=True)
        self.act = build_activation(act_cfg)
        self.psi = nn.Conv2d(hidden, 1, 1, bias=True)
        self.gate = build_activation(gate_cfg)
        # the authors' output transform W (grid_attention_layer.py:47-50)
        self.output_transform = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1, bias=True),
            nn.BatchNorm2d(in_channels)) if variant == 'authors' else None

    def _alpha(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``alpha`` of Eq. 1-2, (N, 1, H, W)."""
        self.check_input(x)
        check_channels(self, g, self.gating_channels, key='gating_channels')
        if g.shape[0] != x.shape[0]:
            raise ValueError(f'AttentionGate: x and g batch sizes differ '
                             f'({x.shape[0]} vs {g.shape[0]})')
        theta = self.theta_x(x)
        gating = self.phi_g(g)
        if gating.shape[2:] != theta.shape[2:]:
            gating = F.interpolate(gating, size=theta.shape[2:], mode='bilinear',
                                   align_corners=False)
        alpha = self.gate(self.psi(self.act(theta + gating)))  # Eq. 1-2
        if alpha.shape[2:] != x.shape[2:]:  # the authors' half-resolution alpha, line 103
            alpha = F.interpolate(alpha, size=x.shape[2:], mode='bilinear', align_corners=False)
        return alpha

    def forward(self,
                x: torch.Tensor,
                g: torch.Tensor,
                return_attention: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        alpha = self._alpha(x, g)
        out = x * alpha
        if self.output_transform is not None:
            out = self.output_transform(out)  # grid_attention_layer.py:104-105
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
