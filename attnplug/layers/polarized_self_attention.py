"""Polarized self-attention (PSA).

Paper: Liu, Liu, Fan, Huang, "Polarized Self-Attention: Towards High-quality Pixel-wise
Regression", arXiv 2107.00782 (2021). Official code: https://github.com/DeLightCMU/PSA
(``semantic-segmentation/network/PSA.py``, classes ``PSA_p`` and ``PSA_s``).

Two branches, each collapsing one dimension fully and keeping the other at full resolution
(``N = H·W``, ``C/2`` internal channels):

* channel-only (paper Eq. 2): ``A^ch = sigmoid(W_z(W_v(X) · softmax_N(W_q(X))))``, where
  ``W_q`` maps ``X`` to one channel, softmaxed over the positions, and ``W_v`` to ``C/2``
  channels; their product is a ``C/2`` vector that ``W_z`` lifts back to ``C`` channel weights;
* spatial-only (paper Eq. 4): ``A^sp = sigmoid(GP(W_q(X)) · W_v(X))``, a global-pooled ``C/2``
  query against the ``C/2``-channel value at each position, giving one weight per position.

The parallel layout adds the two gated copies, ``Z = A^ch ⊙ X + A^sp ⊙ X`` (Eq. 5); the
sequential one chains them, ``Z = A^sp(Y) ⊙ Y`` with ``Y = A^ch(X) ⊙ X`` (Eq. 6). Neither
ever holds more than ``C·N`` numbers per sample: PSA is linear in ``N`` (the test checks the
largest intermediate against ``N²`` and its growth with ``N``).

This module follows the authors' released code, which departs from the paper's equations; each
``variant`` equals the authors' class (golden records ``tests/golden/authors/psa-parallel.pt``
and ``psa-sequential.pt``, made by ``benchmarks/golden/make_psa.py``):

* ``variant='parallel'`` is ``PSA_p``: ``W_z`` is a bare 1×1 conv (the paper's figure adds a
  LayerNorm), and in the spatial branch the softmax is taken over the positions *after* the
  query-value product, ``A^sp = sigmoid(softmax_N(GP(W_q X) · W_v X))``, where the paper
  softmaxes the pooled query over its channels. The weights after that softmax sum to 1 over
  the map, so on large maps this spatial gate stays close to ``sigmoid(0) = 0.5``.
* ``variant='sequential'`` is ``PSA_s``: ``W_z`` is a bottleneck, 1×1 conv ``C/2 → C/8`` (with
  bias), LayerNorm, ReLU, 1×1 conv ``C/8 → C`` (with bias); in the spatial branch the value is
  softmaxed over the positions per channel and the pooled query is not normalised,
  ``A^sp = sigmoid(GP(W_q Y) · softmax_N(W_v Y))``.

Other departures from the authors' code: the convs keep PyTorch's default init (the authors
re-initialise the four query/value convs with Kaiming-normal, fan-in); the state-dict keys are
renamed (``conv_q_right`` → ``channel_query``, ``conv_v_right`` → ``channel_value``,
``conv_up`` → ``channel_up``, ``conv_q_left`` → ``spatial_query``, ``conv_v_left`` →
``spatial_value``); the authors' unused ``kernel_size``/``stride`` arguments are left out
(stride 1). Not an identity at init: both layouts multiply by sigmoid gates and have no
residual gain.
"""
from typing import List

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import hidden_width
from .base import AttentionMap, AttentionModule

_VARIANTS = ('parallel', 'sequential')


@MODELS.register_module()
class PolarizedSelfAttention(AttentionModule):
    """Polarized self-attention (`PSA <https://arxiv.org/abs/2107.00782>`_): a channel-only and
    a spatial-only branch, in parallel or in sequence, linear in the number of positions.
    Registered as ``attnplug.PolarizedSelfAttention``; the plugin layer name is
    ``polarized_attn``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and of the output).
        reduction (int): The internal width is ``in_channels // reduction``. Default: 2 (the
            paper's and the authors' ``C/2``).
        hidden_channels (int, optional): The internal width set explicitly; overrides
            ``reduction``. Default: None.
        variant (str): ``'parallel'`` (the authors' ``PSA_p``, Eq. 5) or ``'sequential'``
            (``PSA_s``, Eq. 6). The sequential ``W_z`` bottleneck has ``hidden // 4`` channels,
            so it needs ``hidden >= 4``. Default: 'parallel'.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'polarized_attn'
    #: The width ratio of the sequential variant's ``W_z`` bottleneck (the authors' ``ratio``).
    up_ratio = 4

    def __init__(self,
                 in_channels: int,
                 reduction: int = 2,
                 hidden_channels=None,
                 variant: str = 'parallel',
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if variant not in _VARIANTS:
            raise ValueError(f'PolarizedSelfAttention: variant must be one of {_VARIANTS}, '
                             f'got {variant!r}')
        hidden = hidden_width(in_channels, reduction, hidden_channels,
                              owner='PolarizedSelfAttention')
        self.variant = variant
        self.hidden_channels = hidden
        # channel-only branch (Eq. 2)
        self.channel_query = nn.Conv2d(in_channels, 1, 1, bias=False)
        self.channel_value = nn.Conv2d(in_channels, hidden, 1, bias=False)
        if variant == 'parallel':
            self.channel_up = nn.Conv2d(hidden, in_channels, 1, bias=False)
        else:
            squeezed = hidden // self.up_ratio
            if squeezed < 1:
                raise ValueError(
                    f"PolarizedSelfAttention: variant='sequential' needs a hidden width of at "
                    f'least {self.up_ratio} (its W_z bottleneck has hidden // {self.up_ratio} '
                    f'channels), got hidden_channels={hidden} from in_channels={in_channels}; '
                    f'use in_channels >= {self.up_ratio * reduction} or set hidden_channels')
            self.channel_up = nn.Sequential(
                nn.Conv2d(hidden, squeezed, 1),
                nn.LayerNorm([squeezed, 1, 1]),
                nn.ReLU(),
                nn.Conv2d(squeezed, in_channels, 1))
        # spatial-only branch (Eq. 4)
        self.spatial_query = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.spatial_value = nn.Conv2d(in_channels, hidden, 1, bias=False)

    def _channel_gate(self, x: torch.Tensor) -> torch.Tensor:
        """``A^ch``, (B, C, 1, 1): Eq. 2."""
        value = self.channel_value(x).flatten(2)  # (B, C/2, N)
        query = self.channel_query(x).flatten(2).softmax(dim=2)  # (B, 1, N)
        context = torch.matmul(value, query.transpose(1, 2))  # (B, C/2, 1)
        return torch.sigmoid(self.channel_up(context.unsqueeze(-1)))

    def _spatial_gate(self, x: torch.Tensor) -> torch.Tensor:
        """``A^sp``, (B, 1, H, W): Eq. 4, with the softmax where the authors put it."""
        b, _, h, w = x.shape
        query = self.spatial_query(x).mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C/2)
        value = self.spatial_value(x).flatten(2)  # (B, C/2, N)
        if self.variant == 'parallel':
            logits = torch.matmul(query, value).softmax(dim=2)
        else:
            logits = torch.matmul(query, value.softmax(dim=2))
        return torch.sigmoid(logits).view(b, 1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.variant == 'parallel':
            return x * self._channel_gate(x) + x * self._spatial_gate(x)  # Eq. 5
        y = x * self._channel_gate(x)
        return y * self._spatial_gate(y)  # Eq. 6

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The spatial gate ``A^sp`` (B, H, W): on the input (parallel) or on the
        channel-refined input (sequential), as the forward computes it."""
        self.check_input(x)
        if self.variant == 'sequential':
            x = x * self._channel_gate(x)
        return [AttentionMap('spatial gate A^sp', self._spatial_gate(x).float()[:, 0])]

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, '
                f'variant={self.variant!r}')
