"""Coordinate Attention.

Paper: Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network
Design", CVPR 2021, arXiv 2103.02907. Official code:
https://github.com/houqb/CoordAttention

The block (paper Sec. 3.2) factorises global pooling into two 1D poolings so
that the attention keeps positions along the other axis:

* ``z^h = mean_W(x)`` of shape ``(N, C, H, 1)`` and ``z^w = mean_H(x)``,
  ``(N, C, 1, W)`` (Eq. 4-5);
* ``f = act(BN(F1([z^h; z^w])))``, a shared 1x1 conv ``C -> C/r`` on the two
  descriptors concatenated along the spatial axis (Eq. 6);
* ``f`` is split back into ``f^h`` and ``f^w``;
  ``g^h = sigmoid(F_h(f^h))``, ``g^w = sigmoid(F_w(f^w))`` (Eq. 7-8);
* ``y = x * g^h * g^w`` (Eq. 9), broadcasting over W and H respectively.

H and W are independent, so non-square maps work. Defaults follow the
official code: ``r = 32``, hidden width ``max(8, C // r)``, h-swish activation.

Departure from the paper: none in the maths; the hidden width's floor of 8 and
the bias on ``F1`` are taken from the official code. The output always has
``in_channels`` channels (the official code allows a different ``oup``).

At its defaults the module equals the authors' ``CoordAtt(C, C)`` (houqb/CoordAttention@7619bea9
``coordatt.py``: ``mip = max(8, inp // reduction)`` at line 28, ``conv1`` with bias at line 30;
tests/golden/test_authors_coord_attention.py).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm, hidden_width
from .base import AttentionMap, AttentionModule


@MODELS.register_module()
class CoordAttention(AttentionModule):
    """Coordinate Attention (`CA <https://arxiv.org/abs/2103.02907>`_): channel
    attention factorised along H and W. Registered as ``attnplug.CoordAttention``;
    the plugin layer name is ``coord_att``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio ``r``: the hidden width is
            ``max(min_hidden_channels, C // r)``. Default: 32.
        hidden_channels (int, optional): Hidden width, overriding ``reduction``.
            Default: None.
        min_hidden_channels (int): Lower bound of the hidden width (8 in the
            official code). Default: 8.
        norm_cfg (dict): Norm after the shared conv ``F1``. Default: dict(type='BN').
        act_cfg (str | dict): Activation after the norm. Default: dict(type='HSwish').
        gate_cfg (str | dict): Gate of both directional maps.
            Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'coord_att'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 32,
                 hidden_channels: Optional[int] = None,
                 min_hidden_channels: int = 8,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='HSwish'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        hidden = self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                                     min_hidden_channels, owner='CoordAttention')
        self.conv_shared = nn.Conv2d(in_channels, hidden, 1, bias=True)
        self.norm = build_norm(norm_cfg, hidden)
        self.act = build_activation(act_cfg)
        self.conv_h = nn.Conv2d(hidden, in_channels, 1, bias=True)
        self.conv_w = nn.Conv2d(hidden, in_channels, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def _gates(self, x: torch.Tensor):
        """``(g^h, g^w)``, (N, C, H, 1) and (N, C, 1, W)."""
        self.check_input(x)
        h, w = x.shape[2:]
        z_h = x.mean(dim=3, keepdim=True)  # (N, C, H, 1), Eq. 4
        z_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (N, C, W, 1), Eq. 5
        f = self.act(self.norm(self.conv_shared(torch.cat([z_h, z_w], dim=2))))  # Eq. 6
        f_h, f_w = torch.split(f, [h, w], dim=2)
        g_h = self.gate(self.conv_h(f_h))  # (N, C, H, 1), Eq. 7
        g_w = self.gate(self.conv_w(f_w)).transpose(2, 3)  # (N, C, 1, W), Eq. 8
        return g_h, g_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g_h, g_w = self._gates(x)
        return x * g_h * g_w  # Eq. 9

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """``g^h · g^w`` averaged over channels, (B, H, W); no query maps."""
        g_h, g_w = self._gates(x)
        return [AttentionMap('gate g_h·g_w, channel mean', (g_h * g_w).float().mean(1))]
