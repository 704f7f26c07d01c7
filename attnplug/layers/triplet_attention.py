"""Triplet attention.

Paper: Misra, Nalamada, Arasanipalai, Hou, "Rotate to Attend: Convolutional Triplet Attention
Module", WACV 2021, arXiv 2010.03045. Official code:
https://github.com/LandskapeAI/triplet-attention (``triplet_attention.py``, class
``TripletAttention``).

Three branches each capture the interaction of two of the three axes (C, H, W) of the input
``χ`` (paper Sec. 3.2, Fig. 3). Each branch rotates ``χ`` so that the remaining axis comes
first, reduces it with Z-pool and gates the rotated tensor with a ``k × k`` conv:

* Z-pool over an axis: ``Z(χ) = [MaxPool(χ); AvgPool(χ)]``, two maps (Eq. 1);
* branch ``ω`` of axes (a, b): ``g_ab = σ(BN(conv_k×k(Z_rest(χ))))``, a ``1 × a × b`` gate;
* ``y = 1/3 (χ · g_hw + χ · g_cw + χ · g_hc)`` (Eq. 2), each gate broadcast over the axis its
  branch pooled: ``g_hw`` over C (CBAM's spatial attention), ``g_cw`` over H, ``g_hc`` over W.

With ``no_spatial=True`` the ``hw`` branch is left out and ``y = 1/2 (χ · g_cw + χ · g_hc)``.

The module is not an identity at init (a product with sigmoid gates); it has no residual gain.

Departures from the official code (none in the maths):

* the gates are computed from Z-pools taken along the original axes instead of from rotated
  copies of ``χ`` (the official code permutes the whole tensor twice and back); the conv sees
  the same ``(C, W)`` and ``(H, C)`` planes in the same orientation, so the weights are
  interchangeable. The three gates are summed before one product: ``y = χ · (g_hw + g_cw +
  g_hc) / 3``, equal to Eq. 2 up to rounding;
* state-dict keys: the official ``<branch>.conv.conv.weight`` is ``<branch>.conv.weight``
  here and ``<branch>.conv.bn.*`` is ``<branch>.norm.*``; the branch names ``cw``, ``hc``,
  ``hw`` are the official ones;
* ``kernel_size``, ``norm_cfg`` (``None`` drops the BN) and ``gate_cfg`` are options; the
  defaults are the official 7, ``BatchNorm2d(momentum=0.01)`` and sigmoid.
"""
from typing import List

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm
from .base import AttentionMap, AttentionModule


class ZPoolGate(nn.Module):
    """One branch of triplet attention: ``σ(BN(conv([max; mean])))`` of two pooled maps.

    Input: ``(N, 2, A, B)`` Z-pooled maps; output ``(N, 1, A, B)`` gate.
    """

    def __init__(self, kernel_size: int, norm_cfg: ConfigType, gate_cfg: ConfigType):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = build_norm(norm_cfg, 1)
        self.gate = build_activation(gate_cfg)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.gate(self.norm(self.conv(pooled)))


def z_pool(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Eq. 1: ``[max; mean]`` over ``dim``, stacked as 2 channels at dim 1 (max first, as in
    the official code)."""
    return torch.stack([x.amax(dim=dim), x.mean(dim=dim)], dim=1)


@MODELS.register_module()
class TripletAttention(AttentionModule):
    """Triplet attention (`Rotate to Attend <https://arxiv.org/abs/2010.03045>`_): three
    Z-pool gates over the (H, W), (C, W) and (H, C) planes, averaged. Registered as
    ``attnplug.TripletAttention``; the plugin layer name is ``triplet_attention``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W. Not an
    identity at init.

    Args:
        in_channels (int): Channels of the input (checked; the weights do not depend on it).
        kernel_size (int): Odd kernel size of each branch's conv. Default: 7 (official).
        no_spatial (bool): Leave out the ``hw`` (spatial) branch. Default: False.
        norm_cfg (dict, optional): Norm after each branch's conv; None for none.
            Default: dict(type='BN', momentum=0.01) (the official ``BatchNorm2d``).
        gate_cfg (str | dict): Gate of each branch. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'triplet_attention'

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 7,
                 no_spatial: bool = False,
                 norm_cfg: ConfigType = dict(type='BN', momentum=0.01),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f'TripletAttention: kernel_size must be odd and >= 1, '
                             f'got {kernel_size}')
        self.kernel_size, self.no_spatial = kernel_size, no_spatial
        self.cw = ZPoolGate(kernel_size, norm_cfg, gate_cfg)  # pools H; conv over (C, W)
        self.hc = ZPoolGate(kernel_size, norm_cfg, gate_cfg)  # pools W; conv over (H, C)
        self.hw = None if no_spatial else ZPoolGate(kernel_size, norm_cfg, gate_cfg)

    def _gates(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The branch gates, each broadcastable to ``(N, C, H, W)``: ``g_cw`` (N, C, 1, W),
        ``g_hc`` (N, C, H, 1) and, with the spatial branch, ``g_hw`` (N, 1, H, W)."""
        self.check_input(x)
        g_cw = self.cw(z_pool(x, 2)).transpose(1, 2)  # (N, 1, C, W) -> (N, C, 1, W)
        # the official branch rotates χ to (N, W, H, C): its conv sees (H, C) planes
        g_hc = self.hc(z_pool(x, 3).transpose(2, 3))  # (N, 1, H, C)
        g_hc = g_hc.permute(0, 3, 2, 1)  # (N, C, H, 1)
        gates = [g_cw, g_hc]
        if self.hw is not None:
            gates.insert(0, self.hw(z_pool(x, 1)))  # (N, 1, H, W): CBAM's spatial gate
        return gates

    def _weights(self, x: torch.Tensor) -> torch.Tensor:
        """The per-element weight of Eq. 2, ``(g_hw + g_cw + g_hc) / 3``, (N, C, H, W)."""
        gates = self._gates(x)
        total = gates[0] + gates[1]
        for g in gates[2:]:
            total = total + g
        return total / len(gates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._weights(x)  # Eq. 2

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The weight of Eq. 2 averaged over channels and, with the spatial branch, its gate
        ``g_hw``; each (B, H, W), no query maps."""
        maps = [AttentionMap('weight (g_hw + g_cw + g_hc) / 3, channel mean',
                             self._weights(x).float().mean(1))]
        if self.hw is not None:
            maps.append(AttentionMap('spatial branch gate g_hw', self._gates(x)[0][:, 0].float()))
        return maps

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, kernel_size={self.kernel_size}, '
                f'no_spatial={self.no_spatial}')
