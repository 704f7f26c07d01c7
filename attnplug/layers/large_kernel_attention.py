"""Large kernel attention (LKA), the spatial attention of the Visual Attention Network.

Paper: Guo, Lu, Liu, Liu, Cheng, Hu, "Visual Attention Network", Computational Visual Media
2023, arXiv 2202.09741. Official code:
https://github.com/Visual-Attention-Network/VAN-Classification (``models/van.py``, classes
``LKA`` and ``Attention``).

A ``K×K`` convolution is decomposed (paper Sec. 3.2, Fig. 2) into a ``(2d-1)×(2d-1)``
depth-wise conv, a ``⌈K/d⌉×⌈K/d⌉`` depth-wise conv with dilation ``d`` and a 1×1 conv; the
result is an attention map of the same shape as its input that multiplies it (Eq. 1-2):
``Attention = Conv1×1(DW-D-Conv(DW-Conv(F)))``, ``Output = Attention ⊗ F``. VAN wraps LKA in
its spatial attention block (Fig. 3 (a), the authors' ``Attention``), which is this module::

    u = GELU(proj_1(x));  y = proj_2(LKA(u)) + x

With ``K = 21``, ``d = 3`` the convs are 5×5 and 7×7 with dilation 3 (padding 2 and 9), as
in the paper and the authors' code. Every conv keeps its bias. Cost is linear in ``H·W``.

Equal to the authors' ``Attention(d_model=C)`` (golden record
``tests/golden/authors/lka.pt``, made by ``benchmarks/golden/make_lka.py``); the state-dict keys
are theirs (``proj_1``, ``spatial_gating_unit.conv0``, ``spatial_gating_unit.conv_spatial``,
``spatial_gating_unit.conv1``, ``proj_2``), so VAN's block weights load as they are.

Departures from the authors' code:

* identity at init: :meth:`reset_parameters` zeroes ``proj_2`` (weight and bias), so the block
  starts as ``y = x`` (the authors initialise it like every conv of VAN, normal with
  ``std = sqrt(2 / fan_out)``; in VAN the block sits behind a BN and a layer scale of 0.01);
* ``kernel_size`` and ``dilation`` are arguments (the authors fix 21 and 3) and the activation
  is ``act_cfg``;
* the norm, the layer scale and the MLP of VAN's ``Block`` are not part of this module.
"""
from typing import List

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation
from .base import AttentionMap, AttentionModule


class _LargeKernelConv(nn.Module):
    """The decomposed large kernel and its product with the input (Eq. 1-2); named as the
    authors' ``LKA`` so that the keys match."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        local = 2 * dilation - 1
        spread = kernel_size // dilation
        self.conv0 = nn.Conv2d(channels, channels, local, padding=local // 2, groups=channels)
        self.conv_spatial = nn.Conv2d(channels, channels, spread, padding=dilation * (spread // 2),
                                      groups=channels, dilation=dilation)
        self.conv1 = nn.Conv2d(channels, channels, 1)

    def attention(self, u: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv_spatial(self.conv0(u)))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.attention(u)


@MODELS.register_module()
class LargeKernelAttention(AttentionModule):
    """Large kernel attention (`VAN <https://arxiv.org/abs/2202.09741>`_) in VAN's residual
    spatial attention block. Registered as ``attnplug.LargeKernelAttention``; the plugin
    layer name is ``lka``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and of the output).
        kernel_size (int): The large kernel ``K`` that the three convs stand for; a multiple
            of ``dilation`` with an odd quotient. Default: 21 (the paper).
        dilation (int): The dilation ``d`` of the second depth-wise conv. Default: 3.
        act_cfg (str | dict): Activation after ``proj_1``. Default: dict(type='GELU').
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'lka'

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 21,
                 dilation: int = 3,
                 act_cfg: ConfigType = dict(type='GELU'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if dilation < 1 or kernel_size % dilation or (kernel_size // dilation) % 2 == 0:
            raise ValueError(
                f'LargeKernelAttention: kernel_size must be a multiple of dilation with an odd '
                f'quotient (21 and 3 give a 7x7 conv with dilation 3), got '
                f'kernel_size={kernel_size}, dilation={dilation}')
        self.kernel_size, self.dilation = kernel_size, dilation
        self.proj_1 = nn.Conv2d(in_channels, in_channels, 1)
        self.activation = build_activation(act_cfg)
        self.spatial_gating_unit = _LargeKernelConv(in_channels, kernel_size, dilation)
        self.proj_2 = nn.Conv2d(in_channels, in_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.proj_2.weight)
        nn.init.zeros_(self.proj_2.bias)

    def _gated_input(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.activation(self.proj_1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.spatial_gating_unit(self._gated_input(x))) + x

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """LKA's attention (the factor of Eq. 2), averaged over channels, (B, H, W)."""
        weights = self.spatial_gating_unit.attention(self._gated_input(x))
        return [AttentionMap('LKA attention, channel mean', weights.float().mean(1))]

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, kernel_size={self.kernel_size}, '
                f'dilation={self.dilation}')
