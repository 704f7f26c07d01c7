"""Position and channel attention modules of DANet.

"Dual Attention Network for Scene Segmentation", Fu, Liu, Tian, Li, Bao, Fang and Lu,
arXiv 1809.02983 (official code: https://github.com/junfu1115/DANet).

* Position attention (PAM, Sec. 3.2, Eq. 1-2): ``s_ji = softmax_i(B_iᵀ C_j)`` over all
  positions, ``E_j = α Σ_i s_ji D_i + A_j`` with α (``gamma``) starting at 0.
* Channel attention (CAM, Sec. 3.3, Eq. 3-4): the C×C affinity ``X Xᵀ`` of the channels,
  ``E = β · softmax(max(X Xᵀ) - X Xᵀ) X + A`` with β (``gamma``) starting at 0. The
  ``max - energy`` form is the official code's (the paper writes the plain softmax):
  junfu1115/DANet@b0a0fa00 ``encoding/nn/da_att.py:75``.

State-dict keys are those of mmseg's ``PAM`` / ``CAM`` (mmseg/models/decode_heads/da_head.py:
``query_project``, ``key_project``, ``value_project``, ``gamma.scale``), so their weights load
directly. Departures from mmseg: PAM never builds the N×N map (it uses
:func:`attnplug.functional.attention`: on the CPU and in training the query-blocked
FlashAttention-2 autograd function, because the value size differs from the key size); CAM's C×C energies are computed in fp32 under autocast (a sum over N products of
unscaled activations overflows fp16); both can be used as shape-preserving backbone plugins.

Both equal the authors' ``PAM_Module`` / ``CAM_Module`` (``encoding/nn/da_att.py``; keys
``query_conv``/``key_conv``/``value_conv`` -> ``*_project``, ``gamma`` (1, ) -> ``gamma.scale``)
at their defaults (tests/golden/test_authors_danet.py).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from ..functional.bounded_attention import (DEFAULT_MEMORY_BUDGET, attention,
                                            attention_probs, matmul_fp32)
from ..registry import MODELS
from .base import AttentionMap, AttentionModule, query_cell, query_label
from .scale import Scale

__all__ = ['PositionAttention', 'ChannelAttention']


@MODELS.register_module()
class PositionAttention(AttentionModule):
    """DANet's position attention module (`DANet <https://arxiv.org/abs/1809.02983>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W). Query and key have ``channels``
    channels, the value has C; energies are not scaled (as in the paper). An identity when
    built and after ``init_weights()`` (α = 0).

    Args:
        in_channels (int): Channels C of the input.
        channels (int, optional): Query/key channels (mmseg's ``PAM`` name for the hidden
            width). Default: ``max(C // 8, 1)``, as mmseg's ``PAM(in_channels, channels)``
            with DAHead's ``pam_channels = C / 8``.
        memory_budget (int): Bytes of one fp32 score block. Default: 256 MiB.
        block_size (int, optional): Query rows per attention block (overrides the budget).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'pam'

    def __init__(self,
                 in_channels: int,
                 channels: Optional[int] = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.channels = channels if channels is not None else max(in_channels // 8, 1)
        self.memory_budget = memory_budget
        self.block_size = block_size
        self.key_project = nn.Conv2d(in_channels, self.channels, 1)
        self.query_project = nn.Conv2d(in_channels, self.channels, 1)
        self.value_project = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = Scale(0.)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """α = 0: the module starts as an identity (the projections keep their init)."""
        self.gamma.reset(0.)

    def _qk(self, x: torch.Tensor):
        """Queries and keys ``B``, ``C`` of Eq. 1, each (B, N, channels)."""
        self.check_input(x)
        q = self.query_project(x).flatten(2).transpose(1, 2)  # (B, N, c)
        k = self.key_project(x).flatten(2).transpose(1, 2)
        return q, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        b, c, h, w = x.shape
        q, k = self._qk(x)
        v = self.value_project(x).flatten(2).transpose(1, 2)  # (B, N, C)
        out = attention(q, k, v, scale=1.0, memory_budget=self.memory_budget,
                        block_size=self.block_size)
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return self.gamma(out) + x

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries: Sequence = ((0.5, 0.5), )) -> List[AttentionMap]:
        """Where each query pixel looks: its row ``s_j·`` of Eq. 1 over all positions,
        (B, H, W) fp32 per query, summing to 1. One row each (O(N)), never the N×N map."""
        b, _, h, w = x.shape
        q, k = self._qk(x)
        out = []
        for point in queries:
            r, c = query_cell(point, h, w)
            idx = r * w + c
            row = attention_probs(q[:, idx:idx + 1], k, scale=1.0)  # unscaled, as forward
            out.append(AttentionMap(query_label(point), row.reshape(b, h, w), tuple(point)))
        return out

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, channels={self.channels}'


@MODELS.register_module()
class ChannelAttention(AttentionModule):
    """DANet's channel attention module (`DANet <https://arxiv.org/abs/1809.02983>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W). Builds a C×C affinity (O(C²·N) time,
    O(C²) memory), so any map size is fine.

    It has no spatial map to show (its attention is C×C), so no ``attention_maps``.

    Args:
        in_channels (int): Channels C of the input (checked; CAM has no projections).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'cam'

    def __init__(self, in_channels: int, init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        self.gamma = Scale(0.)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """β = 0: the module starts as an identity."""
        self.gamma.reset(0.)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        self.check_input(x)
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
