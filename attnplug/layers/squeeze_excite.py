"""Squeeze-and-Excitation.

Paper: Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks",
CVPR 2018 / TPAMI 2019, arXiv 1709.01507. Official code:
https://github.com/hujie-frank/SENet

The block (paper Sec. 3, Eq. 2-4): ``z = GAP(x)``, ``s = gate(W2 act(W1 z))``,
``y = s * x`` with ``W1: C -> C/r`` and ``W2: C/r -> C``.

Departures from the paper, all optional and chosen so that one class covers the
variants used in OpenMMLab:

* ``W1``/``W2`` are 1x1 convolutions with bias (same maths as the paper's FC
  layers on the pooled vector);
* the hidden width can be rounded to a multiple of ``divisor``
  (``make_divisible``, as in MobileNetV3) - the paper uses ``C // r``;
* the gate is configurable; the paper uses a sigmoid, mmseg's ``SELayer``
  defaults to ``HSigmoid(bias=3, divisor=6)``.

The authors released Caffe models only. The SE block of their ``models/SE-ResNet-50.prototxt``
(hujie-frank/SENet@0262d43d, lines 167-250: global average pooling, a 1x1 conv ``C -> C/16``
with bias, ReLU, a 1x1 conv back with bias, sigmoid, and the ``Axpy`` that scales the
feature) is the spec; ``SqueezeExcitation(C)`` at its defaults equals it, run layer by layer
(tests/golden/test_authors_squeeze_excite.py).
"""
from typing import Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, hidden_width
from .base import AttentionModule


@MODELS.register_module()
class SqueezeExcitation(AttentionModule):
    """Squeeze-and-Excitation channel attention (`SENet
    <https://arxiv.org/abs/1709.01507>`_). Registered as
    ``attnplug.SqueezeExcitation``; the plugin layer name is ``se``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    To reproduce OpenMMLab's layers (same weights, same outputs; the state-dict
    keys map ``conv1.conv`` -> ``fc1`` and ``conv2.conv`` -> ``fc2``):

    * mmdet ``SELayer(C, ratio=r)``: ``SqueezeExcitation(C, reduction=r)``;
    * mmseg ``SELayer(C, ratio=r)``: ``SqueezeExcitation(C, reduction=r,
      divisor=8, gate_cfg=dict(type='HSigmoid', bias=3.0, divisor=6.0))``.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Squeeze ratio ``r``; the hidden width is
            ``make_divisible(in_channels // reduction, divisor)``. Default: 16.
        divisor (int): Round the hidden width to a multiple of this; 1 keeps
            ``in_channels // reduction`` (at least 1). Default: 1.
        hidden_channels (int, optional): Hidden width, overriding
            ``reduction``/``divisor``. Default: None.
        act_cfg (str | dict): Activation between the two layers.
            Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate producing the channel weights.
            Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'se'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 divisor: int = 1,
                 hidden_channels: Optional[int] = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                            divisor=divisor, owner='SqueezeExcitation')
        hidden_channels = self.hidden_channels
        self.fc1 = nn.Conv2d(in_channels, hidden_channels, 1, bias=True)
        self.act = build_activation(act_cfg)
        self.fc2 = nn.Conv2d(hidden_channels, in_channels, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        s = x.mean(dim=(2, 3), keepdim=True)  # squeeze, Eq. 2
        s = self.gate(self.fc2(self.act(self.fc1(s))))  # excitation, Eq. 3
        return x * s  # Eq. 4
