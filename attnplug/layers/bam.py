"""Bottleneck Attention Module.

Paper: Park, Woo, Lee, Kweon, "BAM: Bottleneck Attention Module", BMVC 2018,
arXiv 1807.06514. Official code: https://github.com/Jongchan/attention-module

BAM sits at the bottlenecks of a network (between stages) and refines a
feature with a residual attention (paper Eq. 1-4):

* ``F' = F + F * M(F)``, ``M(F) = sigmoid(Mc(F) + Ms(F))`` (broadcast to ``C x H x W``);
* channel branch ``Mc(F) = BN(MLP(AvgPool(F)))``, MLP ``C -> C/r -> C``;
* spatial branch ``Ms(F) = BN(f1x1(f3x3(f3x3(f1x1(F)))))``: a 1x1 reduction to
  ``C/r``, two 3x3 convs with dilation ``d``, a 1x1 conv to one channel.

Defaults follow the paper: ``r=16``, ``d=4``, two dilated convs.

Departures from the paper:

* **zero-initialised scale**: ``F' = F + gamma * F * M(F)`` with a learnable
  scalar ``gamma`` (a :class:`Scale`, saved under the key ``gamma`` as before it was
  one) that ``reset_parameters()`` sets to 0, so the module starts as an
  exact identity even after a backbone re-initialises its convs. The paper has
  no ``gamma`` (effectively ``gamma = 1``); ``zero_init=False`` starts at 1.
* the intermediate convs of both branches are followed by BN + ReLU (as in the
  official code; the paper's Eq. 3 only writes the final BN).
* the MLP is written as 1x1 convs on the ``(N, C, 1, 1)`` descriptor. Its final
  BN is a BatchNorm over that descriptor, so training needs a batch > 1 per
  device (or a norm that does not, e.g. ``norm_cfg=dict(type='GN', num_groups=1)``).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm, hidden_width
from .base import AttentionMap, AttentionModule
from .scale import Scale


@MODELS.register_module()
class BAM(AttentionModule):
    """Bottleneck Attention Module (`BAM <https://arxiv.org/abs/1807.06514>`_),
    a residual attention meant for the stage boundaries of a backbone.
    Registered as ``attnplug.BAM``; the plugin layer name is ``bam``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``. It is
    an exact identity when built and after ``init_weights()`` when ``zero_init=True``.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio ``r`` of both branches (hidden width
            ``max(C // r, 1)``). Default: 16.
        hidden_channels (int, optional): Hidden width of both branches, overriding
            ``reduction``. Default: None.
        dilation (int): Dilation ``d`` of the spatial 3x3 convs. Default: 4.
        num_dilated_convs (int): Number of dilated 3x3 convs. Default: 2.
        norm_cfg (dict): Norm after every conv. Default: dict(type='BN').
        act_cfg (str | dict): Activation after the intermediate convs.
            Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate of ``Mc + Ms``. Default: dict(type='Sigmoid').
        zero_init (bool): Start ``gamma`` at 0 (exact identity) instead of 1
            (the paper). Default: True.
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'bam'
    # The gain was a bare Parameter ``gamma`` before it became a Scale: keep that key.
    _saved_keys = {'gamma': 'gamma.scale'}

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 hidden_channels: Optional[int] = None,
                 dilation: int = 4,
                 num_dilated_convs: int = 2,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 zero_init: bool = True,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.zero_init = zero_init
        hidden = self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                                     owner='BAM')
        # convs feeding a norm carry no bias
        with_bias = norm_cfg is None

        self.channel_branch = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=with_bias), build_norm(norm_cfg, hidden),
            build_activation(act_cfg), nn.Conv2d(hidden, in_channels, 1, bias=True),
            build_norm(norm_cfg, in_channels))

        spatial = [nn.Conv2d(in_channels, hidden, 1, bias=with_bias), build_norm(norm_cfg, hidden),
                   build_activation(act_cfg)]
        for _ in range(num_dilated_convs):
            spatial += [
                nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation, bias=with_bias),
                build_norm(norm_cfg, hidden),
                build_activation(act_cfg)
            ]
        spatial += [nn.Conv2d(hidden, 1, 1, bias=True), build_norm(norm_cfg, 1)]
        self.spatial_branch = nn.Sequential(*spatial)
        self.gate = build_activation(gate_cfg)
        self.gamma = Scale(0.0 if zero_init else 1.0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``gamma`` = 0 with ``zero_init`` (an exact identity), else 1 (the paper)."""
        self.gamma.reset(0.0 if self.zero_init else 1.0)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        """``M(F)`` (Eq. 1), (N, C, H, W)."""
        self.check_input(x)
        mc = self.channel_branch(x.mean(dim=(2, 3), keepdim=True))  # (N, C, 1, 1)
        ms = self.spatial_branch(x)  # (N, 1, H, W)
        return self.gate(mc + ms)  # broadcast to (N, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma(x * self._attention(x))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """``M(F)`` averaged over channels, (B, H, W); no query maps."""
        return [AttentionMap('attention, channel mean', self._attention(x).float().mean(1))]
