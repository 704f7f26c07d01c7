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
* the MLP is written as 1x1 convs on the ``(N, C, 1, 1)`` descriptor (the authors'
  ``nn.Linear`` weights map by a reshape to ``(out, in, 1, 1)``; a BatchNorm2d over
  ``(N, C, 1, 1)`` computes what their BatchNorm1d over ``(N, C)`` does). Its BNs run over
  that descriptor, so training needs a batch > 1 per device (or a norm that does not, e.g.
  ``norm_cfg=dict(type='GN', num_groups=1)``).

The authors' released code (Jongchan/attention-module@459efad0, ``MODELS/bam.py``) departs
from the paper's Eq. 1-4; ``variant='authors'`` reproduces it (the default, ``variant='paper'``,
follows the equations):

* the branches are multiplied, not added, inside the gate, and there is no gain:
  ``F' = F * (1 + sigmoid(Mc(F) * Ms(F)))`` (``bam.py:48-49``);
* neither branch ends in a BN: the channel MLP ends in ``gate_c_fc_final`` (``bam.py:22``) and
  the spatial branch in ``gate_s_conv_final`` (``bam.py:39``); every conv and linear layer
  has a bias (PyTorch's default, ``bam.py:19, 22, 31, 35, 39``);
* the channel descriptor is an average over an ``H x H`` window with stride ``H``
  (``F.avg_pool2d(x, x.size(2), stride=x.size(2))``, ``bam.py:24``): on a square map that
  is the global average, on ``H <= W < 2H`` it averages only the left ``H x H`` square.
  On any other shape the authors' code raises (``H > W``: a pooling window larger than the
  input; ``W >= 2H``: the flattened descriptor no longer fits the first ``nn.Linear``); there
  this variant averages the whole map (what their code computes on square maps, such as
  those of the 224x224 centre crops their ImageNet evaluation feeds, ``train_imagenet.py:120``).

The released ``bam.py`` also cannot be built as it stands: ``ChannelGate.__init__`` reads an
undefined name ``gate_activation`` (``bam.py:12``, a ``NameError``). The golden record defines
that unused name in the module's namespace before building it
(``benchmarks/golden/make_bam.py``).
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm, check_variant, hidden_width
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
        variant (str): ``'paper'`` (Eq. 1-4) or ``'authors'``: the released code, with
            ``F * (1 + sigmoid(Mc * Ms))``, no final BNs, biases on every conv, no gain
            ``gamma`` and the ``H x H`` pooling window (see the module docstring); its keys
            are the paper variant's less ``channel_branch.4.*``, ``spatial_branch.<last>.*``
            (the final BNs) and ``gamma``, plus the conv biases. Default: 'paper'.
        norm_cfg (dict): Norm after every conv. Default: dict(type='BN').
        act_cfg (str | dict): Activation after the intermediate convs.
            Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate of ``Mc + Ms`` (of ``Mc * Ms`` in the authors' variant).
            Default: dict(type='Sigmoid').
        zero_init (bool, optional): Start ``gamma`` at 0 (exact identity) instead of 1
            (the paper). None means True for ``variant='paper'``; ``variant='authors'`` has
            no gain and accepts only None or False. Default: None.
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
                 variant: str = 'paper',
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 zero_init: Optional[bool] = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.variant = check_variant(variant, 'BAM')
        authors = variant == 'authors'
        if authors and zero_init:
            raise ValueError("BAM: variant='authors' has no gain gamma (F * (1 + M(F))), so "
                             f'zero_init must be None or False, got {zero_init}')
        self.zero_init = (zero_init is None or zero_init) and not authors
        hidden = self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                                     owner='BAM')
        # convs feeding a norm carry no bias; the authors' have one everywhere
        with_bias = norm_cfg is None or authors

        channel = [nn.Conv2d(in_channels, hidden, 1, bias=with_bias), build_norm(norm_cfg, hidden),
                   build_activation(act_cfg), nn.Conv2d(hidden, in_channels, 1, bias=True)]
        if not authors:
            channel.append(build_norm(norm_cfg, in_channels))
        self.channel_branch = nn.Sequential(*channel)

        spatial = [nn.Conv2d(in_channels, hidden, 1, bias=with_bias), build_norm(norm_cfg, hidden),
                   build_activation(act_cfg)]
        for _ in range(num_dilated_convs):
            spatial += [
                nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation, bias=with_bias),
                build_norm(norm_cfg, hidden),
                build_activation(act_cfg)
            ]
        spatial.append(nn.Conv2d(hidden, 1, 1, bias=True))
        if not authors:
            spatial.append(build_norm(norm_cfg, 1))
        self.spatial_branch = nn.Sequential(*spatial)
        self.gate = build_activation(gate_cfg)
        self.gamma = None if authors else Scale(0.0 if self.zero_init else 1.0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``gamma`` = 0 with ``zero_init`` (an exact identity), else 1 (the paper); the
        authors' variant has no gain."""
        if self.gamma is not None:
            self.gamma.reset(0.0 if self.zero_init else 1.0)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """The channel descriptor, (N, C, 1, 1): the global average, or in the authors'
        variant the average over their ``H x H`` window where their code runs."""
        h, w = x.shape[2:]
        if self.variant == 'authors' and h <= w < 2 * h:
            x = x[:, :, :, :h]  # bam.py:24, avg_pool2d(x, H, stride=H)
        return x.mean(dim=(2, 3), keepdim=True)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        """``M(F)`` (Eq. 1), (N, C, H, W)."""
        self.check_input(x)
        mc = self.channel_branch(self._pool(x))  # (N, C, 1, 1)
        ms = self.spatial_branch(x)  # (N, 1, H, W)
        if self.variant == 'authors':
            return self.gate(mc * ms)  # bam.py:48
        return self.gate(mc + ms)  # broadcast to (N, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gamma is None:
            return x + x * self._attention(x)  # (1 + M(F)) * F, bam.py:48-49
        return x + self.gamma(x * self._attention(x))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """``M(F)`` averaged over channels, (B, H, W); no query maps."""
        return [AttentionMap('attention, channel mean', self._attention(x).float().mean(1))]
