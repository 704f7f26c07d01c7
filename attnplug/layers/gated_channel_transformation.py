"""Gated channel transformation (GCT).

Paper: Yang, Zhu, Wu, Yang, "Gated Channel Transformation for Visual Recognition", CVPR 2020
(pp. 11794-11803), arXiv 1909.11519. Official code: https://github.com/z-x-yang/GCT
(``PyTorch/GCT.py``, class ``GCT``).

Three per-channel parameters ``α, γ, β`` (paper Sec. 3):

* global context embedding ``s_c = α_c ‖x_c‖₂ = α_c [Σ_{H,W} x_c² + ε]^½`` (Eq. 1);
* channel normalisation ``ŝ_c = √C s_c / ‖s‖₂ = √C s_c / [Σ_c s_c² + ε]^½`` (Eq. 2);
* gating adaptation ``x̂_c = x_c [1 + tanh(γ_c ŝ_c + β_c)]`` (Eq. 3).

The ``'l1'`` mode uses ``s_c = α_c Σ |x_c|`` and ``ŝ_c = s_c / (mean_c |s_c| + ε)``
(``after_relu=True`` skips the ``|·|`` on a non-negative input), as in the official code.

**Identity at init.** With the paper's init (``α = 1``, ``γ = 0``, ``β = 0``) the gate is
``1 + tanh(0) = 1``: the module starts as an exact identity, which the paper relies on to
train it from scratch after every conv. :meth:`reset_parameters` restores that init, so the
identity also holds after a backbone's ``init_weights()``. GCT is a channel-only attention: it
has no spatial map to show.

Departures from the paper and the official code:

* Eq. 2 as the official code writes it, ``ŝ_c = s_c / [mean_c s_c² + ε]^½``: equal to the
  paper's ``√C`` form except that ``ε`` is added to the mean instead of the sum;
* the embedding and gate are computed in fp32 (a sum of squares over ``H × W`` overflows fp16)
  and cast back to the input's dtype;
* an unknown ``mode`` raises a ``ValueError`` when the module is built (the official code
  calls ``sys.exit`` in the forward);
* state-dict keys are the official ``alpha``, ``gamma``, ``beta``, each ``(1, C, 1, 1)``.
"""
import torch
import torch.nn as nn

from ..registry import MODELS
from .base import AttentionModule


@MODELS.register_module()
class GatedChannelTransformation(AttentionModule):
    """Gated channel transformation (`GCT <https://arxiv.org/abs/1909.11519>`_): an ℓ2-norm
    embedding, a normalisation across channels and a ``1 + tanh`` gate; an identity at init.
    Registered as ``attnplug.GatedChannelTransformation``; the plugin layer name is ``gct``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``, any H, W. The paper
    places it before each conv (``after_conv1``/``after_conv2`` plugins of a Bottleneck put it
    before conv2/conv3).

    Args:
        in_channels (int): Channels of the input (and output).
        mode (str): ``'l2'`` (the paper's Eq. 1-2) or ``'l1'``. Default: 'l2'.
        after_relu (bool): In ``'l1'`` mode, the input is non-negative, so ``|x|`` is
            skipped. Default: False.
        eps (float): ``ε`` of Eq. 1-2 (the official ``epsilon``). Default: 1e-5.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'gct'

    def __init__(self,
                 in_channels: int,
                 mode: str = 'l2',
                 after_relu: bool = False,
                 eps: float = 1e-5,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if mode not in ('l2', 'l1'):
            raise ValueError(f"GatedChannelTransformation: mode must be 'l2' or 'l1', "
                             f'got {mode!r}')
        self.mode, self.after_relu, self.eps = mode, after_relu, eps
        self.alpha = nn.Parameter(torch.ones(1, in_channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, in_channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, in_channels, 1, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's init, ``α = 1``, ``γ = β = 0``: the gate is 1, an exact identity."""
        with torch.no_grad():
            self.alpha.fill_(1.0)
            self.gamma.zero_()
            self.beta.zero_()

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``1 + tanh(γ ŝ + β)`` of Eq. 3, (N, C, 1, 1) in ``x``'s dtype."""
        self.check_input(x)
        xf = x.float()
        if self.mode == 'l2':
            embedding = (xf.square().sum(dim=(2, 3), keepdim=True)
                         + self.eps).sqrt() * self.alpha  # Eq. 1
            norm = self.gamma / (embedding.square().mean(dim=1, keepdim=True)
                                 + self.eps).sqrt()  # Eq. 2 (times γ)
        else:
            magnitude = xf if self.after_relu else xf.abs()
            embedding = magnitude.sum(dim=(2, 3), keepdim=True) * self.alpha
            norm = self.gamma / (embedding.abs().mean(dim=1, keepdim=True) + self.eps)
        return (1.0 + torch.tanh(embedding * norm + self.beta)).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)  # Eq. 3

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, mode={self.mode!r}, '
                f'after_relu={self.after_relu}, eps={self.eps}')
