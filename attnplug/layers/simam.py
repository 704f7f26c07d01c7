"""SimAM: a simple, parameter-free attention module.

Paper: Yang, Zhang, Li, Xie, "SimAM: A Simple, Parameter-Free Attention Module for
Convolutional Neural Networks", ICML 2021 (PMLR 139:11863-11874). Official code:
https://github.com/ZjjConan/SimAM

Each neuron ``t`` of a channel is weighted by how much it stands out from the other
``n = H·W - 1`` neurons of that channel (paper Sec. 3.2). The minimal energy of ``t`` (Eq. 6)
is ``e_t = 4 (σ² + λ) / ((t - μ)² + 2σ² + 2λ)``, with ``μ`` and ``σ²`` the channel's mean and
variance (``σ² = Σ (x - μ)² / n``) and ``λ`` a regulariser; a lower energy means a more
distinctive neuron. The refined feature is ``X̃ = sigmoid(1 / E) ⊙ X`` (Eq. 7), where
``1 / e_t = (t - μ)² / (4 (σ² + λ)) + 1/2``. The module has no parameter.

Departures from the paper: the energies are computed in fp32 (a sum of N squared activations
overflows fp16), and a 1×1 map (``n = 0``) uses ``n = 1`` instead of dividing by zero.

The authors' code (ZjjConan/SimAM@ae98f43a, ``networks/attentions/simam_module.py``,
``simam_module``) computes the same equations (lines 21-29) with the same default
``e_lambda=1e-4`` (line 6; on a 1x1 map it divides by ``n = 0``). Their released runs set
``λ = 0.1``: the README's training commands pass ``--attention_type simam --attention_param 0.1``
(README lines 71-74), as do their detection configs (``attention_param=0.1``,
``mmdetection/configs/_base_/models/mask_rcnn_r50simam_fpn.py:11``). ``e_lambda=0.1``
reproduces those models; the default stays the paper's 1e-4.
"""
from typing import List

import torch

from ..registry import MODELS
from ._bricks import ConfigType, build_activation
from .base import AttentionMap, AttentionModule


@MODELS.register_module()
class SimAM(AttentionModule):
    """SimAM (`SimAM <https://proceedings.mlr.press/v139/yang21o.html>`_), an energy-based,
    parameter-free 3D attention. Registered as ``attnplug.SimAM``; the plugin layer name is
    ``simam``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W.

    Args:
        in_channels (int): Channels of the input (checked; SimAM has no weights).
        e_lambda (float): The regulariser ``λ`` of Eq. 6; the authors' released models use
            0.1. Default: 1e-4 (the paper).
        gate_cfg (str | dict): Gate of the inverse energies. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'simam'

    def __init__(self,
                 in_channels: int,
                 e_lambda: float = 1e-4,
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if e_lambda <= 0:
            raise ValueError(f'SimAM: e_lambda must be > 0, got {e_lambda}')
        self.e_lambda = e_lambda
        self.gate = build_activation(gate_cfg)

    def _weights(self, x: torch.Tensor) -> torch.Tensor:
        """``gate(1 / E)`` of Eq. 7, (N, C, H, W) in ``x``'s dtype."""
        self.check_input(x)
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        xf = x.float()
        d = (xf - xf.mean(dim=(2, 3), keepdim=True)).square()  # (t - μ)²
        variance = d.sum(dim=(2, 3), keepdim=True) / n  # σ²
        inverse_energy = d / (4 * (variance + self.e_lambda)) + 0.5  # 1 / e_t, Eq. 6
        return self.gate(inverse_energy).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._weights(x)  # Eq. 7

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The weights ``gate(1 / E)`` averaged over channels, (B, H, W); no query maps."""
        return [AttentionMap('weights sigmoid(1/E), channel mean',
                             self._weights(x).float().mean(1))]

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, e_lambda={self.e_lambda}'
