"""SRM: style-based recalibration.

Paper: Lee, Kim, Nam, "SRM: A Style-based Recalibration Module for Convolutional Neural
Networks", ICCV 2019, arXiv 1903.10829. Official code:
https://github.com/hyunjaelee410/style-based-recalibration-module
(``models/recalibration_modules.py``, class ``SRMLayer``).

Style pooling (paper Sec. 3.1, Eq. 1-2) summarises each channel by its mean and standard
deviation over the ``H·W`` positions, ``t_c = [μ_c, σ_c]``; style integration (Sec. 3.2,
Eq. 3-5) weighs the two with a channel-wise fully connected layer (CFC, two weights per
channel), ``z_c = w_c · t_c``, normalises ``z`` with batch norm, and gates the input,
``X̂_c = sigmoid(BN(z_c)) · X_c``. The module has ``2C`` CFC weights plus its norm.

Equal to the authors' ``SRMLayer(C)`` (golden record ``tests/golden/authors/srm.pt``, made by
``benchmarks/golden/make_srm.py``; the state-dict keys are theirs, ``cfc`` and ``bn.*``).

Departures from the authors' code:

* ``σ_c`` uses the unbiased variance plus ``eps`` under the square root, as theirs does; on a
  1×1 map, where the unbiased variance is undefined (NaN in their code), the biased one (0) is
  used;
* the statistics are computed in fp32 (a sum of squared activations can overflow fp16);
* the norm and the gate are configurable (``norm_cfg``, ``gate_cfg``); the defaults are theirs.

Not an identity at init: the CFC weights start at zero (as the authors'), so the gate starts
at ``sigmoid(BN(0))``, 0.5 in eval mode with fresh statistics; a gate in (0, 1) cannot be an
identity.
"""
import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm
from .base import AttentionModule


@MODELS.register_module()
class SRM(AttentionModule):
    """Style-based Recalibration Module (`SRM <https://arxiv.org/abs/1903.10829>`_), a channel
    gate from each channel's mean and standard deviation. Registered as ``attnplug.SRM``; the
    plugin layer name is ``srm``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``. With the default
    batch norm, a training-mode batch needs more than one sample (as any BN on pooled vectors).

    Args:
        in_channels (int): Channels of the input.
        eps (float): Added to the variance before the square root (style pooling, Eq. 1).
            Default: 1e-5 (the authors').
        norm_cfg (dict, optional): Norm of the integrated style ``z`` (Eq. 4).
            Default: dict(type='BN').
        gate_cfg (str | dict): Gate of the normalised style. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'srm'

    def __init__(self,
                 in_channels: int,
                 eps: float = 1e-5,
                 norm_cfg: ConfigType = dict(type='BN'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if eps < 0:
            raise ValueError(f'SRM: eps must be >= 0, got {eps}')
        self.eps = eps
        # The channel-wise fully connected layer (CFC): one weight for μ, one for σ. The
        # authors start it at zero.
        self.cfc = nn.Parameter(torch.zeros(in_channels, 2))
        self.bn = build_norm(norm_cfg, in_channels)
        self.gate = build_activation(gate_cfg)

    def _style(self, x: torch.Tensor) -> torch.Tensor:
        """Style pooling, Eq. 1-2: ``[μ, σ]`` per channel, (N, C, 2) in fp32."""
        flat = x.float().flatten(2)
        mean = flat.mean(dim=2)
        unbiased = flat.shape[2] > 1  # a 1x1 map has no unbiased variance
        std = (flat.var(dim=2, unbiased=unbiased) + self.eps).sqrt()
        return torch.stack((mean, std), dim=2)

    def _weights(self, x: torch.Tensor) -> torch.Tensor:
        """Style integration, Eq. 3-5: the gate, (N, C, 1, 1) in ``x``'s dtype."""
        self.check_input(x)
        z = (self._style(x) * self.cfc.float()).sum(dim=2)  # CFC, Eq. 3
        z = z[:, :, None, None].to(x.dtype)
        return self.gate(self.bn(z))  # Eq. 4-5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._weights(x)

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, eps={self.eps}'
