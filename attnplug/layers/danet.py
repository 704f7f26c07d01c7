"""Position and channel attention modules of DANet.

"Dual Attention Network for Scene Segmentation", Fu, Liu, Tian, Li, Bao, Fang and Lu,
arXiv 1809.02983 (official code: https://github.com/junfu1115/DANet).

* Position attention (PAM, Sec. 3.2, Eq. 1-2): ``s_ji = softmax_i(B_iᵀ C_j)`` over all
  positions, ``E_j = α Σ_i s_ji D_i + A_j`` with α (``gamma``) starting at 0.
* Channel attention (CAM, Sec. 3.3, Eq. 3-4): the C×C affinity ``X Xᵀ`` of the channels,
  ``E = β · softmax(max(X Xᵀ) - X Xᵀ) X + A`` with β (``gamma``) starting at 0. The
  ``max - energy`` form is the official code's (the paper writes the plain softmax).

State-dict keys are those of mmseg's ``PAM`` / ``CAM`` (mmseg/models/decode_heads/da_head.py:
``query_project``, ``key_project``, ``value_project``, ``gamma.scale``), so their weights load
directly. Departures from mmseg: PAM never builds the N×N map (it uses
:func:`attnplug.functional.attention`, query-chunked because the value size differs from the
key size); CAM's C×C energies are computed in fp32 under autocast (a sum over N products of
unscaled activations overflows fp16); both can be used as shape-preserving backbone plugins.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..functional.bounded_attention import (DEFAULT_MEMORY_BUDGET, attention,
                                            attention_probs, matmul_fp32)
from ..registry import MODELS
from .contract import check_channels
from .scale import Scale

__all__ = ['PositionAttention', 'ChannelAttention']


@MODELS.register_module()
class PositionAttention(nn.Module):
    """DANet's position attention module (`DANet <https://arxiv.org/abs/1809.02983>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W). Query and key have ``channels``
    channels, the value has C; energies are not scaled (as in the paper).

    Args:
        in_channels (int): Channels C of the input.
        channels (int, optional): Query/key channels. Default: ``max(C // 8, 1)``, as mmseg's
            ``PAM(in_channels, channels)`` with DAHead's ``pam_channels = C / 8``.
        memory_budget (int): Bytes of one fp32 score block. Default: 256 MiB.
        block_size (int, optional): Query rows per attention block (overrides the budget).
        record_point (tuple[int, int], optional): A ``(row, col)`` query position. When set,
            every forward stores that pixel's attention over the map, (B, H, W), in
            ``self.attention_row`` (detached) for visualisation. Default: None.
    """

    _abbr_ = 'pam'

    def __init__(self,
                 in_channels: int,
                 channels: Optional[int] = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 record_point: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.in_channels = in_channels
        self.channels = channels if channels is not None else max(in_channels // 8, 1)
        self.memory_budget = memory_budget
        self.block_size = block_size
        self.record_point = record_point
        self.attention_row: Optional[torch.Tensor] = None
        self.key_project = nn.Conv2d(in_channels, self.channels, 1)
        self.query_project = nn.Conv2d(in_channels, self.channels, 1)
        self.value_project = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.)

    def init_weights(self) -> None:
        """α = 0: the module starts as an identity (the projections keep their init)."""
        self.gamma.reset(0.)

    def _qk(self, x: torch.Tensor):
        q = self.query_project(x).flatten(2).transpose(1, 2)  # (B, N, c)
        k = self.key_project(x).flatten(2).transpose(1, 2)
        return q, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        check_channels(self, x, self.in_channels)
        b, c, h, w = x.shape
        q, k = self._qk(x)
        v = self.value_project(x).flatten(2).transpose(1, 2)  # (B, N, C)
        out = attention(q, k, v, scale=1.0, memory_budget=self.memory_budget,
                        block_size=self.block_size)
        if self.record_point is not None:
            self.attention_row = self._row(q, k, h, w, self.record_point).detach()
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return self.gamma(out) + x

    @staticmethod
    def _row(q, k, h, w, point):
        r, col = point
        if not (0 <= r < h and 0 <= col < w):
            raise ValueError(f'PositionAttention: point {point} is outside the {h}x{w} map')
        idx = r * w + col
        return attention_probs(q[:, idx:idx + 1], k, scale=1.0).reshape(q.shape[0], h, w)

    @torch.no_grad()
    def attention_map(self, x: torch.Tensor, point: Tuple[int, int]) -> torch.Tensor:
        """Where the pixel ``point = (row, col)`` looks: its softmax row over all positions.

        Computes one row of the attention (O(N)), never the N×N map.

        Args:
            x (Tensor): (B, C, H, W), the module's input.
            point (tuple[int, int]): Query position (row, col).

        Returns:
            Tensor: (B, H, W) fp32 weights summing to 1 per image.
        """
        check_channels(self, x, self.in_channels)
        q, k = self._qk(x)
        return self._row(q, k, x.shape[2], x.shape[3], point)

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, channels={self.channels}'


@MODELS.register_module()
class ChannelAttention(nn.Module):
    """DANet's channel attention module (`DANet <https://arxiv.org/abs/1809.02983>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W). Builds a C×C affinity (O(C²·N) time,
    O(C²) memory), so any map size is fine.

    Args:
        in_channels (int): Channels C of the input (checked; CAM has no projections).
    """

    _abbr_ = 'cam'

    def __init__(self, in_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.gamma = Scale(0.)

    def init_weights(self) -> None:
        """β = 0: the module starts as an identity."""
        self.gamma.reset(0.)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        check_channels(self, x, self.in_channels)
        b, c, h, w = x.shape
        feat = x.flatten(2)  # (B, C, N)
        # Eq. 3: the C×C energies sum N products of unscaled activations. They are formed
        # in fp32 under autocast / for half inputs (fp16 overflows; bf16's 8-bit mantissa
        # would blur the softmax). CAM is O(C²·N), so this costs little.
        if x.dtype != torch.float32 or torch.is_autocast_enabled(x.device.type):
            energy = matmul_fp32(feat, feat.transpose(1, 2))
        else:
            energy = torch.matmul(feat, feat.transpose(1, 2))
        # Official DANet code: softmax of (row max - energy), i.e. of -energy, shifted.
        attn = (energy.amax(dim=-1, keepdim=True) - energy).softmax(dim=-1)
        out = torch.matmul(attn.to(feat.dtype), feat).reshape(b, c, h, w)
        return self.gamma(out) + x

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}'
