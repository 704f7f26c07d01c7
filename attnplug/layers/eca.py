"""Efficient Channel Attention.

Paper: Wang, Wu, Zhu, Li, Zuo, Hu, "ECA-Net: Efficient Channel Attention for
Deep Convolutional Neural Networks", CVPR 2020, arXiv 1910.03151. Official
code: https://github.com/BangguWu/ECANet

The block (paper Sec. 3.3): global average pooling, then a 1D convolution of
kernel ``k`` across the channel axis (local cross-channel interaction without
dimensionality reduction), a sigmoid, and channel-wise rescaling. ``k`` adapts
to the channel count (Eq. 12): ``k = |log2(C) / gamma + b / gamma|_odd`` with
``gamma=2, b=1``.

Departure from the paper: ``|t|_odd`` is computed here as ``t = int(t); k = t if t is odd
else t + 1`` (the paper says "nearest odd"; the two agree except at an even ``t``, a tie the
paper leaves open: C=128 gives ``t=4`` and ``k=5`` here). This rounding is attnplug's choice:
the authors' code does not compute Eq. 12 at all.

The authors' code (BangguWu/ECANet@b332f6b3) takes ``k`` as an argument:
``eca_layer(channel, k_size=3)`` (``models/eca_module.py:12``) and ``ResNet(..., k_size=[3, 3,
3, 3])`` with one kernel per stage (``models/eca_resnet.py:89-100``), set on the command line
(``--ksize 3557``, README line 64). The released ECA-ResNets use the fixed per-stage kernels
in :data:`RELEASED_KERNELS` (README lines 81-86: ``eca_resnet50_k3557`` and so on), not
Eq. 12, which gives 5, 5, 5, 7 for ResNet-50's 256, 512, 1024, 2048 channels. The released
ECA-MobileNetV2 (``k13``) uses ``k = 1`` below 96 channels and 3 from there
(``models/eca_mobilenetv2.py:77-80``). Pass ``kernel_size=k`` to reproduce a released
model; the module then equals the authors' ``eca_layer`` (same key ``conv.weight``).
"""
import math
from typing import Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation
from .base import AttentionModule


#: The per-stage 1D kernels of the authors' released ECA-ResNets (BangguWu/ECANet@b332f6b3
#: README lines 81-85, the ``_k<stage kernels>`` suffix of each checkpoint): pass
#: ``kernel_size=RELEASED_KERNELS[name][stage]`` to the stage's ECA layers.
RELEASED_KERNELS = {
    'eca_resnet18': (3, 5, 7, 7),
    'eca_resnet34': (3, 3, 5, 7),
    'eca_resnet50': (3, 5, 5, 7),
    'eca_resnet101': (3, 3, 5, 7),
    'eca_resnet152': (3, 3, 5, 7),
}


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """The adaptive 1D kernel size of ECA-Net (Eq. 12; odd rounding as in the module
    docstring). The authors' released models use fixed kernels instead
    (:data:`RELEASED_KERNELS`)."""
    t = int(abs((math.log2(channels) + beta) / gamma))
    return max(t if t % 2 else t + 1, 1)


@MODELS.register_module()
class ECA(AttentionModule):
    """Efficient Channel Attention (`ECA-Net <https://arxiv.org/abs/1910.03151>`_).
    Registered as ``attnplug.ECA``; the plugin layer name is ``eca``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and output).
        gamma (float): ``gamma`` of Eq. 12. Default: 2.
        beta (float): ``b`` of Eq. 12. Default: 1.
        kernel_size (int, optional): Odd 1D kernel size; None derives it from
            ``in_channels`` with Eq. 12. The authors' released models set it per stage
            (:data:`RELEASED_KERNELS`; R50: 3, 5, 5, 7). Default: None.
        gate_cfg (str | dict): Gate producing the channel weights.
            Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'eca'

    def __init__(self,
                 in_channels: int,
                 gamma: float = 2,
                 beta: float = 1,
                 kernel_size: Optional[int] = None,
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if kernel_size is None:
            kernel_size = eca_kernel_size(in_channels, gamma, beta)
        if kernel_size % 2 != 1:
            raise ValueError(f'ECA: kernel_size must be odd, got {kernel_size}')
        self.kernel_size = kernel_size
        # one weight vector shared by all channels, no bias (paper Eq. 9)
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n, c = x.shape[:2]
        y = x.mean(dim=(2, 3)).view(n, 1, c)  # (N, 1, C): channels as a sequence
        y = self.gate(self.conv(y)).view(n, c, 1, 1)
        return x * y
