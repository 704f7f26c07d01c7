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
bias on the ``(N, C, 1, 1)`` descriptors (same maths; the authors' ``nn.Linear``
weights map by a reshape to ``(out, in, 1, 1)``); the hidden width is ``max(C // r, 1)``.

The authors' released code (Jongchan/attention-module@459efad0, ``MODELS/cbam.py``) departs
from the paper's Eq. 3 in two ways; ``variant='authors'`` reproduces both (the default,
``variant='paper'``, follows the equations):

* a BatchNorm (``eps=1e-5, momentum=0.01``) after the 7x7 spatial conv:
  ``cbam.py:77`` builds ``BasicConv(2, 1, 7, relu=False)``, whose ``bn=True`` default
  (``cbam.py:7``) adds ``nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01)`` (``cbam.py:11``).
  Their ResNet zeroes that BN's weight at init (``MODELS/model_resnet.py:134-136``: a ``bn``
  weight under ``SpatialGate`` is set to 0; every bias is set to 0 at lines 139-140), so ``Ms``
  starts as a constant 0.5; ``reset_parameters()`` does the same in this variant;
* the channel-pooled map is ordered ``(max, mean)`` (``cbam.py:70``), the paper writes
  ``[AvgPool; MaxPool]``: the 7x7 conv's two input channels are swapped.
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, check_variant, hidden_width
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
    """``Ms`` of CBAM (Eq. 3): returns the spatial weights ``(N, 1, H, W)``. With
    ``authors=True``, the authors' code: pooled channels ``(max, mean)`` and a BN after the
    conv."""

    def __init__(self, kernel_size: int, gate_cfg: ConfigType, authors: bool = False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'CBAM: spatial_kernel must be odd, got {kernel_size}')
        self.authors = authors
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        # Jongchan/attention-module cbam.py:11 (BasicConv's BN)
        self.norm = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01) if authors else None
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, mx = x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
        if self.authors:
            return self.gate(self.norm(self.conv(torch.cat([mx, mean], dim=1))))
        return self.gate(self.conv(torch.cat([mean, mx], dim=1)))


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
        variant (str): ``'paper'`` (Eq. 1-3) or ``'authors'``: the released code, with a BN
            after the spatial conv (zero weight at init) and the pooled channels ordered
            ``(max, mean)``; it adds the keys ``spatial_attention.norm.*``. Default: 'paper'.
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
                 variant: str = 'paper',
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                            owner='CBAM')
        self.channel_attention = CBAMChannelAttention(in_channels, self.hidden_channels,
                                                      act_cfg, gate_cfg)
        self.variant = check_variant(variant, 'CBAM')
        self.spatial_attention = CBAMSpatialAttention(spatial_kernel, gate_cfg,
                                                      authors=variant == 'authors')
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's CBAM keeps PyTorch's init. The authors' variant zeroes the spatial BN's
        weight and bias, as their ResNet does (``model_resnet.py:134-140``)."""
        norm = self.spatial_attention.norm
        if norm is not None:
            nn.init.zeros_(norm.weight)
            nn.init.zeros_(norm.bias)

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
