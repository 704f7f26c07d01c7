"""Criss-cross attention (CCA) of CCNet, one pass by default, recurrent (RCCA) on request.

"CCNet: Criss-Cross Attention for Semantic Segmentation", Huang, Wang, Huang, Huang, Wei and
Liu, arXiv 1811.11721 (official code: https://github.com/speedinghzl/CCNet).

One criss-cross pass (Sec. 3.2) lets each pixel attend to its row and column,
``H' = γ · Σ A·V + H``; R passes with shared weights (Sec. 3.3, "recurrent", R = 2 in the
paper) connect every pixel to every other one.

Drop-in for mmcv 2.1.0's ``mmcv.ops.CrissCrossAttention``: the default (``recurrence=1``)
computes exactly what mmcv's module computes, one pass, with the same parameter names
(``query_conv``, ``key_conv``, ``value_conv``, ``gamma.scale``), so its weights load. The
paper's recurrent module is one argument away: ``recurrence=2`` equals applying mmcv's module
twice, which is how mmseg's ``CCHead`` loops it (attnplug's ``CCHead`` passes its own
``recurrence=2`` default). Departures: the attention is
:func:`attnplug.functional.criss_cross_attention` (no mmcv import, an ``arange`` mask instead of
``torch.diag`` so that it exports to ONNX, fp32 softmax under autocast), the query, key and
value 1×1 convs run as one conv over their concatenated weights (the input is read once; 6 % of
a pass at 512×128×256 on CPU), the query/key width is at least one channel (mmcv's
``C // 8`` is 0 below 8 channels) and ``reduction`` can change it.

The authors' code is a CUDA extension, so the golden reference is mmcv 2.1.0's module
(tests/golden/test_authors_criss_cross.py).
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..functional.criss_cross import criss_cross_attention, criss_cross_energies
from ..registry import MODELS
from .base import AttentionMap, AttentionModule, query_cell, query_label
from .scale import Scale

__all__ = ['CrissCrossAttention']


@MODELS.register_module()
class CrissCrossAttention(AttentionModule):
    """Criss-cross attention (`CCNet <https://arxiv.org/abs/1811.11721>`_), mmcv's one pass
    by default, the paper's recurrent RCCA with ``recurrence=2``.

    Shape-preserving: (B, C, H, W) -> (B, C, H, W); memory O(B·H·W·(H+W)) per pass. An
    identity when built and after ``init_weights()`` (γ = 0).

    Args:
        in_channels (int): Channels C of the input.
        recurrence (int): Passes R with shared weights. Default: 1 (mmcv's module); the
            paper's RCCA uses 2.
        reduction (int): Query/key channels ``max(C // reduction, 1)``. Default: 8
            (as mmcv).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'cc_attention'

    def __init__(self, in_channels: int, recurrence: int = 1, reduction: int = 8,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if recurrence < 1:
            raise ValueError(f'CrissCrossAttention: recurrence must be >= 1, got {recurrence}')
        self.recurrence = recurrence
        self.channels = max(in_channels // reduction, 1)
        self.query_conv = nn.Conv2d(in_channels, self.channels, 1)
        self.key_conv = nn.Conv2d(in_channels, self.channels, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """γ = 0: every pass, and so the module, starts as an identity."""
        self.gamma.reset(0.)

    def _project(self, x: torch.Tensor):
        """Query, key and value of one pass, from one conv over the concatenated weights."""
        convs = (self.query_conv, self.key_conv, self.value_conv)
        weight = torch.cat([conv.weight for conv in convs])
        bias = torch.cat([conv.bias for conv in convs])
        split = [self.channels, self.channels, self.in_channels]
        return F.conv2d(x, weight, bias).split(split, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        self.check_input(x)
        for _ in range(self.recurrence):
            query, key, value = self._project(x)
            x = self.gamma(criss_cross_attention(query, key, value)) + x
        return x

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries: Sequence = ((0.5, 0.5), )) -> List[AttentionMap]:
        """Where each query pixel gathers from, through all R passes, (B, H, W) per query.

        With one pass, the query's row of the criss-cross attention: non-zero on its row and
        column only, summing to 1. With R passes, the product of the R passes' attention
        (the last pass acts first when tracing back from the query, Sec. 3.3): how much of
        each pixel's value reaches the query through the R crosses. O(N·(H+W)) per pass,
        never N×N.
        """
        self.check_input(x)
        b, _, h, w = x.shape
        attns = []
        for _ in range(self.recurrence):  # the forward's passes, keeping each one's weights
            query, key, value = self._project(x)
            attns.append(criss_cross_energies(query, key).softmax(dim=-1))
            x = self.gamma(criss_cross_attention(query, key, value)) + x
        out = []
        for point in queries:
            r, c = query_cell(point, h, w)
            weights = x.new_zeros(b, h, w, dtype=torch.float32)
            weights[:, r, c] = 1.0
            for attn in reversed(attns):
                weights = _propagate(weights, attn.float())
            label = query_label(point) + (f', {self.recurrence} passes composed'
                                          if self.recurrence > 1 else '')
            out.append(AttentionMap(label, weights, tuple(point)))
        return out

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, recurrence={self.recurrence}'


def _propagate(weights: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Push a (B, H, W) weighting of pixels u back through one pass: ``Σ_u weights[u] ·
    A[u, :]`` as (B, H, W), with ``A`` in :func:`criss_cross_energies`' layout
    (B, H, W, H + W) after the softmax."""
    h = attn.shape[1]
    col, row = attn[..., :h], attn[..., h:]
    # u = (r, c): its column weights A[u, i] reach pixel (i, c); its row weights A[u, H + j]
    # reach pixel (r, j).
    out = torch.einsum('bhw,bhwi->biw', weights, col)
    return out + torch.einsum('bhw,bhwj->bhj', weights, row)
