"""Recurrent criss-cross attention (RCCA) of CCNet.

"CCNet: Criss-Cross Attention for Semantic Segmentation", Huang, Wang, Huang, Huang, Wei and
Liu, arXiv 1811.11721 (official code: https://github.com/speedinghzl/CCNet).

One criss-cross pass (Sec. 3.2) lets each pixel attend to its row and column,
``H' = γ · Σ A·V + H``; R passes with shared weights (Sec. 3.3, "recurrent", R = 2 in the
paper) connect every pixel to every other one.

With ``recurrence=1`` this module computes exactly what mmcv 2.1.0's
``mmcv.ops.CrissCrossAttention`` computes, with the same parameter names (``query_conv``,
``key_conv``, ``value_conv``, ``gamma.scale``), so its weights load; ``recurrence=R`` equals
applying that module R times, which is how mmseg's ``CCHead`` loops it. Departures: the
attention is :func:`attnplug.functional.criss_cross_attention` (no mmcv import, an
``arange`` mask instead of ``torch.diag`` so that it exports to ONNX, fp32 softmax under
autocast), the query, key and value 1×1 convs run as one conv over their concatenated
weights (the input is read once; 6 % of a pass at 512×128×256 on CPU), and the query/key width
is at least one channel.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..functional.criss_cross import criss_cross_attention
from ..registry import MODELS
from .contract import check_channels
from .scale import Scale

__all__ = ['CrissCrossAttention']


@MODELS.register_module()
class CrissCrossAttention(nn.Module):
    """Recurrent criss-cross attention (`CCNet <https://arxiv.org/abs/1811.11721>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W); memory O(B·H·W·(H+W)) per pass.

    Args:
        in_channels (int): Channels C of the input.
        recurrence (int): Passes R with shared weights. Default: 2 (the paper's RCCA).
        reduction (int): Query/key channels ``max(C // reduction, 1)``. Default: 8
            (as mmcv).
    """

    _abbr_ = 'cc_attention'

    def __init__(self, in_channels: int, recurrence: int = 2, reduction: int = 8):
        super().__init__()
        if recurrence < 1:
            raise ValueError(f'CrissCrossAttention: recurrence must be >= 1, got {recurrence}')
        self.in_channels = in_channels
        self.recurrence = recurrence
        self.channels = max(in_channels // reduction, 1)
        self.query_conv = nn.Conv2d(in_channels, self.channels, 1)
        self.key_conv = nn.Conv2d(in_channels, self.channels, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.)

    def init_weights(self) -> None:
        """γ = 0: every pass, and so the module, starts as an identity."""
        self.gamma.reset(0.)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        check_channels(self, x, self.in_channels)
        convs = (self.query_conv, self.key_conv, self.value_conv)
        weight = torch.cat([conv.weight for conv in convs])
        bias = torch.cat([conv.bias for conv in convs])
        split = [self.channels, self.channels, self.in_channels]
        for _ in range(self.recurrence):
            query, key, value = F.conv2d(x, weight, bias).split(split, dim=1)
            x = self.gamma(criss_cross_attention(query, key, value)) + x
        return x

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, recurrence={self.recurrence}'
