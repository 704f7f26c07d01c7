"""Multi-head 2D self-attention with absolute or relative 2D position encodings.

* Multi-head scaled dot-product attention: "Attention Is All You Need", Vaswani et al.,
  arXiv 1706.03762 (Sec. 3.2).
* ``pos_encoding='absolute'``: fixed 2D sine/cosine encodings (Sec. 3.5 of arXiv 1706.03762,
  split between the y and x axes as in DETR, arXiv 2005.12872) added to the input of the
  query and key projections. Positions are integer pixel indices (not normalised to the
  map size), so any H×W gets its encoding without interpolation and a position means the
  same at every map size.
* ``pos_encoding='relative'``: the relative-position logits of BoTNet, "Bottleneck
  Transformers for Visual Recognition", Srinivas et al., arXiv 2101.11605 (Fig. 4, after
  Shaw et al., arXiv 1803.02155, and Bello et al., arXiv 1904.09925):
  ``logit_ij = q_iᵀ k_j + q_iᵀ (r^H_{y_j - y_i} + r^W_{x_j - x_i})`` with learnt height and
  width embeddings of the head size, shared by all heads (as BoTNet). Offsets up to
  ``max_size - 1`` are learnt, so any map up to ``max_size × max_size`` works; larger ones
  raise an error.

Departures: the block is residual, ``x + W_o(MHSA(x))``, with ``W_o`` zero-initialised so it
starts as an exact identity (BoTNet replaces a 3×3 conv instead). The attention never builds
the N×N logits for large maps: through :func:`attnplug.functional.attention` (fused
``scaled_dot_product_attention`` at inference, where the query, key and value head sizes are
equal; the FlashAttention-2 autograd function in training); the relative logits are passed as
:class:`~attnplug.functional.RelativeBias2d`, their O(N·(H+W)) factors ``q·r^H`` and ``q·r^W``,
gathered per block of query rows (O(rows · N)) and given their gradient block by block.

BoTNet's authors released TensorFlow code, so the golden reference is the multi-head
attention of mmcv 2.1.0 (``MultiheadAttention``, which wraps ``torch.nn.MultiheadAttention``)
over the H·W positions with an identity residual: ``pos_encoding=None`` equals it, with the
keys ``in_proj_weight``/``in_proj_bias`` -> ``qkv``, ``out_proj`` -> ``out_proj``
(tests/golden/test_authors_multi_head_attention.py). The position encodings are checked
against their formulas in tests/layers/test_multi_head_attention.py.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import constant_init

from ..functional.bounded_attention import DEFAULT_MEMORY_BUDGET, attention, attention_probs
from ..functional.flash_attention import RelativeBias2d
from ..registry import MODELS
from .base import AttentionMap, AttentionModule, query_cell, query_label

__all__ = ['MultiHeadSelfAttention2d', 'sinusoidal_position_2d']


def _sincos(positions: torch.Tensor, channels: int, temperature: float) -> torch.Tensor:
    """(n,) positions -> (n, channels): sin on the first half, cos on the second; an odd
    channel left over is zero."""
    num_freq = channels // 2
    freq = temperature**(-torch.arange(num_freq, dtype=torch.float32,
                                       device=positions.device) / max(num_freq, 1))
    angle = positions.float().unsqueeze(1) * freq.unsqueeze(0)
    emb = torch.cat([angle.sin(), angle.cos()], dim=1)
    if channels % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def sinusoidal_position_2d(height: int, width: int, channels: int,
                           temperature: float = 10000.,
                           device: Optional[torch.device] = None) -> torch.Tensor:
    """Fixed 2D sine/cosine position encoding of an ``height × width`` map.

    The first ``channels // 2`` channels encode the row index, the rest the column index.

    Returns:
        Tensor: (channels, height, width), fp32.
    """
    cy = channels // 2
    cx = channels - cy
    ey = _sincos(torch.arange(height, device=device), cy, temperature)  # (H, cy)
    ex = _sincos(torch.arange(width, device=device), cx, temperature)  # (W, cx)
    ey = ey.t().unsqueeze(2).expand(cy, height, width)
    ex = ex.t().unsqueeze(1).expand(cx, height, width)
    return torch.cat([ey, ex], dim=0)


@MODELS.register_module()
class MultiHeadSelfAttention2d(AttentionModule):
    """Multi-head self-attention over all positions of a 2D map.

    Shape-preserving: (B, C, H, W) -> (B, C, H, W), ``x + W_o(MHSA(x))``. An identity when
    built and after ``init_weights()`` (``W_o`` = 0).

    Args:
        in_channels (int): Channels C of the input.
        num_heads (int): Attention heads. Default: 8 (reduced to C when C < 8).
        head_channels (int, optional): Channels per head. Default: ``C // num_heads``.
        pos_encoding (str, optional): 'absolute', 'relative' or None. Default: 'absolute'.
        max_size (int): Largest H and W of the 'relative' encoding (it learns offsets in
            ``[-(max_size - 1), max_size - 1]``). Default: 128.
        qkv_bias (bool): Bias in the query/key/value projection. Default: True.
        temperature (float): Wavelength base of the 'absolute' encoding. Default: 10000.
        memory_budget (int): Bytes of one fp32 score block of the chunked attention.
            Default: 256 MiB.
        block_size (int, optional): Query rows per attention block (overrides the budget).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'mhsa'

    def __init__(self,
                 in_channels: int,
                 num_heads: int = 8,
                 head_channels: Optional[int] = None,
                 pos_encoding: Optional[str] = 'absolute',
                 max_size: int = 128,
                 qkv_bias: bool = True,
                 temperature: float = 10000.,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if pos_encoding not in ('absolute', 'relative', None):
            raise ValueError(f"MultiHeadSelfAttention2d: pos_encoding must be 'absolute', "
                             f"'relative' or None, got {pos_encoding!r}")
        num_heads = min(num_heads, in_channels) if head_channels is None else num_heads
        if head_channels is None:
            if in_channels % num_heads:
                raise ValueError(f'MultiHeadSelfAttention2d: in_channels={in_channels} is not '
                                 f'divisible by num_heads={num_heads}; set head_channels')
            head_channels = in_channels // num_heads
        self.num_heads = num_heads
        self.head_channels = head_channels
        self.pos_encoding = pos_encoding
        self.max_size = max_size
        self.temperature = temperature
        self.memory_budget = memory_budget
        self.block_size = block_size
        inner = num_heads * head_channels
        self.qkv = nn.Conv2d(in_channels, 3 * inner, 1, bias=qkv_bias)
        self.out_proj = nn.Conv2d(inner, in_channels, 1)
        if pos_encoding == 'relative':
            self.rel_height = nn.Parameter(torch.empty(2 * max_size - 1, head_channels))
            self.rel_width = nn.Parameter(torch.empty(2 * max_size - 1, head_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Relative embeddings ~ N(0, d^-1) (BoTNet); zero ``out_proj``: an identity."""
        if self.pos_encoding == 'relative':
            nn.init.normal_(self.rel_height, std=self.head_channels**-0.5)
            nn.init.normal_(self.rel_width, std=self.head_channels**-0.5)
        constant_init(self.out_proj, 0)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # (B, heads * d, H, W) -> (B, heads, N, d)
        b = t.shape[0]
        return t.reshape(b, self.num_heads, self.head_channels, -1).transpose(-2, -1)

    def _attend_inputs(self, x: torch.Tensor):
        """``(q, k, v, scale, bias)`` of the attention: q, k, v (B, heads, N, d); ``bias`` the
        relative-logit callable or None."""
        self.check_input(x)
        b, c, h, w = x.shape
        inner = self.num_heads * self.head_channels
        if self.pos_encoding == 'absolute':
            # Positions enter the queries and keys only (as DETR): project x + p for them
            # and x for the values, with the slices of the one qkv conv.
            pos = sinusoidal_position_2d(h, w, c, self.temperature, x.device).to(x.dtype)
            wgt, bias = self.qkv.weight, self.qkv.bias
            qk = F.conv2d(x + pos, wgt[:2 * inner], None if bias is None else bias[:2 * inner])
            q, k = qk[:, :inner], qk[:, inner:]
            v = F.conv2d(x, wgt[2 * inner:], None if bias is None else bias[2 * inner:])
        else:
            qkv = self.qkv(x)
            # slicing, not split(): opset 17 has no Split with num_outputs
            q, k, v = qkv[:, :inner], qkv[:, inner:2 * inner], qkv[:, 2 * inner:]
        q, k, v = (self._split_heads(t) for t in (q, k, v))
        if self.pos_encoding == 'relative':
            q = q * self.head_channels**-0.5
            return q, k, v, 1.0, self._relative_logits(q, h, w)
        return q, k, v, None, None  # scale None: d^-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        b, _, h, w = x.shape
        q, k, v, scale, bias = self._attend_inputs(x)
        out = attention(q, k, v, scale=scale, bias=bias, memory_budget=self.memory_budget,
                        block_size=self.block_size)
        out = out.transpose(-2, -1).reshape(b, self.num_heads * self.head_channels, h, w)
        return x + self.out_proj(out)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries: Sequence = ((0.5, 0.5), )) -> List[AttentionMap]:
        """Where each query pixel looks, averaged over the heads, (B, H, W) fp32 per query,
        summing to 1. One row per head (O(N)), never the N×N map."""
        b, _, h, w = x.shape
        q, k, _, scale, bias = self._attend_inputs(x)
        out = []
        for point in queries:
            r, c = query_cell(point, h, w)
            idx = r * w + c
            probs = attention_probs(q[:, :, idx:idx + 1], k, scale=scale,
                                    bias=None if bias is None else bias(idx, idx + 1))
            out.append(AttentionMap(query_label(point) + f', mean of {self.num_heads} heads',
                                    probs.mean(dim=1).reshape(b, h, w), tuple(point)))
        return out

    def _relative_logits(self, q: torch.Tensor, h: int, w: int) -> RelativeBias2d:
        """The relative logits as a :class:`RelativeBias2d` (``bias(start, stop)`` gives those
        of query rows ``[start, stop)``, (B, heads, rows, H·W)), never all N×N pairs."""
        if h > self.max_size or w > self.max_size:
            raise ValueError(f'MultiHeadSelfAttention2d: a {h}x{w} map exceeds max_size='
                             f'{self.max_size} of the relative position encoding; build the '
                             f'module with max_size >= {max(h, w)}')
        m = self.max_size
        # Offsets -(n-1)..(n-1) of an n-long axis sit at rows m-n .. m+n-2 of the table.
        emb_h = self.rel_height[m - h:m + h - 1]  # (2H-1, d)
        emb_w = self.rel_width[m - w:m + w - 1]  # (2W-1, d)
        # logits of every query against every offset, O(N·(H+W)); RelativeBias2d gathers the
        # offset (y_k - y_q, x_k - x_q) of each pair per block of query rows.
        return RelativeBias2d(torch.matmul(q, emb_h.t().to(q.dtype)),
                              torch.matmul(q, emb_w.t().to(q.dtype)), h, w)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, num_heads={self.num_heads}, '
                f'head_channels={self.head_channels}, pos_encoding={self.pos_encoding!r}')
