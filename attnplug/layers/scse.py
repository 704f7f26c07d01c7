"""Concurrent spatial and channel squeeze-and-excitation (scSE).

Paper: Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze &
Excitation' in Fully Convolutional Networks", MICCAI 2018, arXiv 1803.02579.

The block (paper Sec. 2) recalibrates a feature ``U`` twice, in parallel:

* cSE: ``U_cSE = sigmoid(W2 ReLU(W1 GAP(U))) * U`` (SE; ``W1: C -> C/r``, r=2 in the paper);
* sSE: ``U_sSE = sigmoid(Conv1x1_{C->1}(U)) * U``;
* scSE: ``U_scSE = U_cSE + U_sSE``.

Departures from the paper: ``W1``/``W2`` are 1x1 convs with bias (the authors' ``nn.Linear``
weights map by a reshape to ``(out, in, 1, 1)``); ``fusion`` also offers ``'max'``
(element-wise max), the aggregation the authors found best in the journal extension
(Roy et al., IEEE TMI 2019, arXiv 1808.08127).

The authors' code (ai-med/squeeze_and_excitation@acdd26e7,
``squeeze_and_excitation/squeeze_and_excitation.py``, ``ChannelSpatialSELayer``) fuses by
maximum, ``torch.max(self.cSE(x), self.sSE(x))`` (line 123), where the MICCAI paper adds:
``fusion='max'`` reproduces it (the default stays the paper's ``'add'``). Its cSE
(``ChannelSELayer``, lines 27-57: ``Linear(C, C // 2)``, ReLU, ``Linear(C // 2, C)``,
sigmoid, both with bias) and sSE (``SpatialSELayer``, lines 66-98: a 1x1 conv with bias,
sigmoid) are this module's, with the same default ``reduction_ratio=2``.
"""
from typing import List, Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, hidden_width
from .base import AttentionMap, AttentionModule


@MODELS.register_module()
class SCSE(AttentionModule):
    """Concurrent spatial and channel SE (`scSE <https://arxiv.org/abs/1803.02579>`_).
    Registered as ``attnplug.SCSE``; the plugin layer name is ``scse``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio of the channel SE (hidden width
            ``max(C // r, 1)``). Default: 2.
        hidden_channels (int, optional): Hidden width of the channel SE, overriding
            ``reduction``. Default: None.
        fusion (str): How the two recalibrated features are combined:
            ``'add'`` (the paper) or ``'max'`` (the authors' code). Default: 'add'.
        act_cfg (str | dict): Activation inside the channel SE.
            Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate of both excitations. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'scse'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 2,
                 hidden_channels: Optional[int] = None,
                 fusion: str = 'add',
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if fusion not in ('add', 'max'):
            raise ValueError(f"SCSE: fusion must be 'add' or 'max', got {fusion!r}")
        self.fusion = fusion
        hidden = self.hidden_channels = hidden_width(in_channels, reduction, hidden_channels,
                                                     owner='SCSE')
        self.channel_fc1 = nn.Conv2d(in_channels, hidden, 1, bias=True)
        self.channel_act = build_activation(act_cfg)
        self.channel_fc2 = nn.Conv2d(hidden, in_channels, 1, bias=True)
        self.spatial_conv = nn.Conv2d(in_channels, 1, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def _spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """sSE's weights ``sigmoid(Conv1x1(U))``, (N, 1, H, W)."""
        return self.gate(self.spatial_conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        s = x.mean(dim=(2, 3), keepdim=True)
        channel = x * self.gate(self.channel_fc2(self.channel_act(self.channel_fc1(s))))
        spatial = x * self._spatial_gate(x)
        if self.fusion == 'max':
            return torch.maximum(channel, spatial)
        return channel + spatial

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The spatial gate of sSE, (B, H, W); no query maps."""
        self.check_input(x)
        return [AttentionMap('spatial gate (sSE)', self._spatial_gate(x)[:, 0].float())]
