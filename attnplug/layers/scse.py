"""Concurrent spatial and channel squeeze-and-excitation (scSE).

Paper: Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze &
Excitation' in Fully Convolutional Networks", MICCAI 2018, arXiv 1803.02579.

The block (paper Sec. 2) recalibrates a feature ``U`` twice, in parallel:

* cSE: ``U_cSE = sigmoid(W2 ReLU(W1 GAP(U))) * U`` (SE; ``W1: C -> C/r``, r=2 in the paper);
* sSE: ``U_sSE = sigmoid(Conv1x1_{C->1}(U)) * U``;
* scSE: ``U_scSE = U_cSE + U_sSE``.

Departures from the paper: ``W1``/``W2`` are 1x1 convs with bias; ``fusion``
also offers ``'max'`` (element-wise max), the aggregation the authors found
best in the journal extension (Roy et al., IEEE TMI 2019, arXiv 1808.08127).
"""
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..registry import MODELS
from ._bricks import ConfigType, build_activation
from .contract import check_channels


@MODELS.register_module()
class SCSE(BaseModule):
    """Concurrent spatial and channel SE (`scSE <https://arxiv.org/abs/1803.02579>`_).
    Registered as ``attnplug.SCSE``; the plugin layer name is ``scse``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio of the channel SE. Default: 2.
        fusion (str): How the two recalibrated features are combined:
            ``'add'`` (the paper) or ``'max'``. Default: 'add'.
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
                 fusion: str = 'add',
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if fusion not in ('add', 'max'):
            raise ValueError(f"SCSE: fusion must be 'add' or 'max', got {fusion!r}")
        self.in_channels = in_channels
        self.fusion = fusion
        hidden = max(in_channels // reduction, 1)
        self.channel_fc1 = nn.Conv2d(in_channels, hidden, 1, bias=True)
        self.channel_act = build_activation(act_cfg)
        self.channel_fc2 = nn.Conv2d(hidden, in_channels, 1, bias=True)
        self.spatial_conv = nn.Conv2d(in_channels, 1, 1, bias=True)
        self.gate = build_activation(gate_cfg)

    def init_weights(self) -> None:
        """Applies ``init_cfg`` if given; otherwise keeps PyTorch's default
        init. Not residual, so there is no identity start to restore."""
        super().init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(self, x, self.in_channels)
        s = x.mean(dim=(2, 3), keepdim=True)
        channel = x * self.gate(self.channel_fc2(self.channel_act(self.channel_fc1(s))))
        spatial = x * self.gate(self.spatial_conv(x))
        if self.fusion == 'max':
            return torch.maximum(channel, spatial)
        return channel + spatial
