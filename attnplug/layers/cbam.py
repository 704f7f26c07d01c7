"""Convolutional Block Attention Module.

Paper: Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module",
ECCV 2018, arXiv 1807.06521. Official code: https://github.com/Jongchan/attention-module

The block (paper Sec. 3, Eq. 1-3) refines a feature sequentially:
``F' = Mc(F) * F`` then ``F'' = Ms(F') * F'`` with

* channel attention ``Mc(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))``,
  one MLP ``C -> C/r -> C`` (ReLU) shared by both pooled descriptors;
* spatial attention ``Ms(F) = sigmoid(f7x7([AvgPool_c(F); MaxPool_c(F)]))``,
  the pools running over the channel axis.

Departures from the paper: the MLP is written as two 1x1 convolutions with
bias on the ``(N, C, 1, 1)`` descriptors (same maths); the hidden width is
``max(C // r, 1)``. Following the paper's equations, the spatial branch has no
batch norm (the official code adds one after the 7x7 conv).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, hidden_width
from .base import AttentionMap, AttentionModule


class CBAMChannelAttention(nn.Module):
    """``Mc`` of CBAM (Eq. 2): returns the channel weights ``(N, C, 1, 1)``."""

    def __init__(self, channels: int, hidden_channels: int, act_cfg: ConfigType,
                 gate_cfg: ConfigType):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1, bias=True)
        self.act = build_activation(act_cfg)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        mx = x.amax(dim=(2, 3), keepdim=True)
        return self.gate(self.fc2(self.act(self.fc1(avg))) + self.fc2(self.act(self.fc1(mx))))


class CBAMSpatialAttention(nn.Module):
    """``Ms`` of CBAM (Eq. 3): returns the spatial weights ``(N, 1, H, W)``."""

    def __init__(self, kernel_size: int, gate_cfg: ConfigType):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'CBAM: spatial_kernel must be odd, got {kernel_size}')
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return self.gate(self.conv(pooled))


@MODELS.register_module()
class CBAM(AttentionModule):
    """Convolutional Block Attention Module (`CBAM <https://arxiv.org/abs/1807.06521>`_):
    channel attention, then spatial attention. Registered as ``attnplug.CBAM``;
    the plugin layer name is ``cbam``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio ``r`` of the shared MLP (hidden width
            ``max(C // r, 1)``). Default: 16.
        hidden_channels (int, optional): Hidden width of the MLP, overriding
            ``reduction``. Default: None.
        spatial_kernel (int): Odd kernel size of the spatial conv. Default: 7.
        act_cfg (str | dict): Activation inside the MLP. Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate of both attention maps.
            Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'cbam'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 hidden_channels: Optional[int] = None,
                 spatial_kernel: int = 7,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                            owner='CBAM')
        self.channel_attention = CBAMChannelAttention(in_channels, self.hidden_channels,
                                                      act_cfg, gate_cfg)
        self.spatial_attention = CBAMSpatialAttention(spatial_kernel, gate_cfg)

    def _refine(self, x: torch.Tensor):
        self.check_input(x)
        refined = x * self.channel_attention(x)  # F' = Mc(F) * F
        return refined, self.spatial_attention(refined)  # Ms(F'), (N, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refined, ms = self._refine(x)
        return refined * ms  # F'' = Ms(F') * F'

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The spatial gate ``Ms(F')`` (Eq. 3), (B, H, W); no query maps."""
        return [AttentionMap('spatial gate Ms', self._refine(x)[1][:, 0].float())]
