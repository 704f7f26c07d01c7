"""The disentangled non-local decode head on attnplug's memory-bounded attention.

"Disentangled Non-Local Neural Networks", Yin, Yao, Cao, Li, Zhang, Lin and Hu, ECCV 2020,
arXiv 2006.06668 (official code: https://github.com/yinmh17/DNL-Semantic-Segmentation).
The block (Sec. 4.1, Eq. 8) splits the non-local attention into a *whitened pairwise* term,
``softmax((q_i - μ_q)ᵀ (k_j - μ_k) / τ)``, and a *unary* term, ``softmax(m(x_j))``, that both
weight the same values ``g(x_j)``::

    z_i = x_i + W_z (Σ_j ω_p(i, j) g(x_j) + Σ_j ω_u(j) g(x_j))

This is mmseg 1.2.2's ``DNLHead`` (mmseg/models/decode_heads/dnl_head.py, whose block
subclasses mmcv's ``NonLocal2d``), key for key, computed without its N×N map.

Why whitening costs no N×N tensor: ``μ_q`` and ``μ_k`` are means over the N positions, so the
whitened queries and keys are two O(N·c) tensors; the pairwise term is then ordinary
attention over them, which :func:`attnplug.functional.attention` computes by fused or
query-blocked kernels. The softmax stays exact: nothing is approximated, the logits are the
same products. (Subtracting ``μ_k`` alone would not even change the softmax -- it shifts each
query's row of logits by the constant ``-q_iᵀ μ_k`` -- but it is kept so that the logits are
mmseg's, term for term.)

Modes, as in mmseg (its block inherits every pairwise function of mmcv's ``NonLocal2d`` and
overrides only the embedded Gaussian):

* ``'embedded_gaussian'``: logits ``θ̄ φ̄ᵀ / sqrt(c) / τ`` (``/ sqrt(c)`` only with
  ``use_scale``), softmax over keys: fused SDPA, O(N) memory.
* ``'dot_product'``: ``θ̄ φ̄ᵀ / N``, no softmax and no temperature: computed as
  ``θ̄ (φ̄ᵀ g) / N`` in O(N).
* ``'gaussian'``: the input itself as queries and keys, softmax without scale or temperature:
  query-blocked attention (key width C, value width C/2).
* ``'concatenation'``: ``ReLU(w_θᵀ θ̄_i + w_φᵀ φ̄_j) / N``. mmcv builds it by repeating θ and φ
  into a (B, 2c, N, N) tensor. A weight that is a ReLU of a per-query scalar ``α_i`` plus a
  per-key scalar ``β_j`` is positive exactly on the keys with ``β_j > -α_i``, which are a
  suffix of the keys sorted by ``β``, so ``Σ_j ReLU(α_i + β_j) g_j = α_i S_g(i) + S_βg(i)``
  with ``S`` suffix sums of ``g`` and ``β g`` over the sorted keys, read where ``-α_i`` falls
  among the sorted ``β`` (one sort of keys and queries together): O(N log N) time and
  O(N·c) memory, the same sums reordered (the rounding differs: a large ``α_i S_g`` and
  ``S_βg`` of opposite signs cancel, about 1e-6 relative in fp32).

Departures from mmseg, all listed in ``docs/backbone_hooks.md``:

* ``memory_budget`` / ``block_size`` (extra arguments) bound the attention's score blocks.
* In ``'gaussian'`` mode mmseg's block centres its input *in place* (its ``theta_x`` is a view
  of ``x``), so the residual, the unary mask and the keys all see the centred map, and the
  backward pass then fails (the preceding in-place ReLU's output was modified). This block
  gives the same values without the in-place write, so it also trains.
* ``num_convs`` other than 2 raises ``ValueError`` (mmseg passes it twice: ``TypeError``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from attnplug.functional.bounded_attention import (DEFAULT_MEMORY_BUDGET, attention,
                                                   attention_probs)
from attnplug.layers.base import AttentionMap, query_cell, query_label
from attnplug.layers.non_local import NonLocal2d
from attnplug.registry import MODELS

from .between_convs import BlockBetweenConvsHead

DNL_MODES = ('embedded_gaussian', 'dot_product', 'gaussian', 'concatenation')


class DisentangledNonLocal2d(NonLocal2d):
    """Disentangled non-local block (mmseg's ``DisentangledNonLocal2d``, bounded).

    Keys: ``g``, ``theta``, ``phi``, ``conv_out`` (mmcv ``NonLocal2d``'s), ``conv_mask`` (the
    unary term's 1×1 conv) and, in ``'concatenation'`` mode, ``concat_project``.

    Args:
        in_channels (int): Channels C of the input.
        reduction (int): ``inter_channels = max(C // reduction, 1)``. Default: 2.
        use_scale (bool): Divide the embedded-Gaussian logits by ``sqrt(inter_channels)``.
            Default: True.
        mode (str): One of ``DNL_MODES``. Default: 'embedded_gaussian'.
        temperature (float): τ of the embedded-Gaussian pairwise term. Default: 0.05.
        norm_cfg (dict, optional): Norm after ``conv_out``. Default: None.
        conv_cfg (dict, optional): Only ``None`` / ``dict(type='Conv2d')``. Default: None.
        memory_budget (int): Bytes of one fp32 score block. Default: 256 MiB.
        block_size (int, optional): Query rows per score block (overrides the budget).
    """

    def __init__(self,
                 in_channels: int,
                 reduction: int = 2,
                 use_scale: bool = True,
                 mode: str = 'embedded_gaussian',
                 temperature: float = 0.05,
                 norm_cfg: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 init_cfg=None):
        if mode not in DNL_MODES:
            # mmcv's NonLocal2d raises ValueError for an unknown mode, too
            raise ValueError(f'DisentangledNonLocal2d: mode must be one of {DNL_MODES}, '
                             f'got {mode!r}')
        # concatenation has the embedded Gaussian's projections (theta, phi) plus its own
        super().__init__(in_channels, reduction=reduction, use_scale=use_scale,
                         mode='embedded_gaussian' if mode == 'concatenation' else mode,
                         norm_cfg=norm_cfg, conv_cfg=conv_cfg, memory_budget=memory_budget,
                         block_size=block_size, init_cfg=init_cfg)
        self.mode = mode
        self.temperature = temperature
        self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
        if mode == 'concatenation':
            self.concat_project = ConvModule(self.inter_channels * 2, 1, kernel_size=1,
                                             bias=False, act_cfg=dict(type='ReLU'))

    def _whitened(self, x: Tensor):
        """``(x_res, q, k, v)``: the residual input, whitened queries and keys (B, N, ·) and
        the values (B, N, c)."""
        self.check_input(x)
        v = self.g(x).flatten(2).transpose(1, 2)
        if self.mode == 'gaussian':
            # mmseg centres x itself (in place): the residual and unary mask see it centred
            x = x - x.mean(dim=(2, 3), keepdim=True)
            q = k = x.flatten(2).transpose(1, 2)
        else:
            q = self.theta(x).flatten(2).transpose(1, 2)
            k = self.phi(x).flatten(2).transpose(1, 2)
            q = q - q.mean(dim=1, keepdim=True)
            k = k - k.mean(dim=1, keepdim=True)
        return x, q, k, v

    def _concatenation(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """``(1/N) Σ_j ReLU(α_i + β_j) v_j`` by suffix sums over keys sorted by ``β``."""
        b, nk, c = v.shape
        w_q, w_k = self.concat_project.conv.weight.flatten().split(q.shape[-1])
        alpha = q @ w_q.to(q.dtype)  # (B, N)
        beta = k @ w_k.to(k.dtype)  # (B, Nk)
        beta_sorted, order = beta.sort(dim=-1)
        v_sorted = v.gather(1, order.unsqueeze(-1).expand(b, nk, c))

        def suffix_sums(t: Tensor) -> Tensor:  # (B, Nk, c) -> (B, Nk + 1, c), last row 0
            s = t.flip(1).cumsum(1).flip(1)
            return torch.cat([s, s.new_zeros(b, 1, c)], dim=1)

        s_v = suffix_sums(v_sorted)
        s_bv = suffix_sums(beta_sorted.unsqueeze(-1) * v_sorted)
        start = self._keys_at_or_below(beta, -alpha)  # first sorted key with α_i + β_j > 0
        start = start.unsqueeze(-1).expand(b, start.shape[1], c)
        y = alpha.unsqueeze(-1) * s_v.gather(1, start) + s_bv.gather(1, start)
        return y / nk

    @staticmethod
    def _keys_at_or_below(keys: Tensor, queries: Tensor) -> Tensor:
        """``#{j : keys_j <= queries_i}`` per query, (B, N) int64: ``searchsorted`` over the
        sorted keys, written as one sort of keys and queries together (ONNX has no
        ``searchsorted``). A key equal to a query may fall on either side: its weight
        ``ReLU(0)`` is 0 either way."""
        nk = keys.shape[-1]
        order = torch.cat([keys, queries], dim=-1).argsort(dim=-1)
        keys_so_far = (order < nk).long().cumsum(dim=-1)
        rank = order.argsort(dim=-1)  # where each key / query went
        return keys_so_far.gather(-1, rank[:, nk:])

    def _pairwise(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Σ_j ω_p(i, j) v_j, (B, N, c)."""
        if self.mode == 'concatenation':
            return self._concatenation(q, k, v)
        if self.mode == 'embedded_gaussian':
            scale = (q.shape[-1]**-0.5 if self.use_scale else 1.0) / self.temperature
        else:
            scale = 1.0
        return attention(q, k, v, scale=scale,
                         mode='dot_product' if self.mode == 'dot_product' else 'softmax',
                         memory_budget=self.memory_budget, block_size=self.block_size)

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        b, _, h, w = x.shape
        x, q, k, v = self._whitened(x)
        y = self._pairwise(q, k, v).transpose(1, 2).reshape(b, self.inter_channels, h, w)
        # unary term: one softmax map over the N positions, (B, 1, N) @ (B, N, c)
        unary = self.conv_mask(x).flatten(2).softmax(dim=-1)
        unary_x = (unary @ v).transpose(1, 2).reshape(b, self.inter_channels, 1, 1)
        # the unary context is broadcast over the map before the shared W_z (as mmseg 1.2.2)
        return x + self.conv_out(y + unary_x)

    @torch.no_grad()
    def attention_maps(self, x: Tensor, *,
                       queries: Sequence = ((0.5, 0.5), )) -> List[AttentionMap]:
        """Where each query pixel looks: its row ``ω_p(i, ·)`` of the pairwise term, (B, H, W)
        fp32 per query (the unary term ``ω_u`` is the same for every query and is added by
        the block separately). O(N) per query."""
        b, _, h, w = x.shape
        _, q, k, _ = self._whitened(x)
        out = []
        for point in queries:
            r, c = query_cell(point, h, w)
            qi = q[:, r * w + c:r * w + c + 1]
            if self.mode == 'concatenation':
                w_q, w_k = self.concat_project.conv.weight.flatten().split(q.shape[-1])
                row = ((qi @ w_q).unsqueeze(-1) + (k @ w_k).unsqueeze(1)).relu() / k.shape[1]
            else:
                scale = ((q.shape[-1]**-0.5 if self.use_scale else 1.0) / self.temperature
                         if self.mode == 'embedded_gaussian' else 1.0)
                row = attention_probs(qi, k, scale=scale, mode='dot_product'
                                      if self.mode == 'dot_product' else 'softmax')
            out.append(AttentionMap(query_label(point), row.float().reshape(b, h, w),
                                    tuple(point)))
        return out

    def extra_repr(self) -> str:
        return super().extra_repr() + f', temperature={self.temperature}'


@MODELS.register_module()
class DNLHead(BlockBetweenConvsHead):
    """Disentangled Non-Local Neural Networks.

    This head is the implementation of `DNLNet <https://arxiv.org/abs/2006.06668>`_.

    The same model as mmseg's ``DNLHead`` (same state-dict keys and outputs): an ``FCNHead``
    with two convs and a :class:`DisentangledNonLocal2d` (``dnl_block``) between them, whose
    attention never holds an N×N map (see the module docstring).

    Args:
        reduction (int): ``inter_channels = channels // reduction``. Default: 2.
        use_scale (bool): Scale the pairwise logits by ``1 / sqrt(inter_channels)``.
            Default: True.
        mode (str): 'embedded_gaussian', 'dot_product', 'gaussian' or 'concatenation'.
            Default: 'embedded_gaussian'.
        temperature (float): Temperature of the embedded-Gaussian softmax. Default: 0.05.
        memory_budget (int): Bytes one fp32 block of attention scores may take.
            Default: 256 MiB.
        block_size (int, optional): Query rows per attention block; overrides
            ``memory_budget``. Default: None.
        num_convs (int): Must be 2, as in mmseg (accepted so that an ``FCNHead`` config
            switches to this head by its ``type`` alone). Default: 2.
        **kwargs: The other arguments of mmseg's ``FCNHead``.

    Shapes:
        (B, in_channels, H, W) feature -> (B, num_classes, H, W) logits.
    """

    block_name = 'dnl_block'

    def __init__(self,
                 reduction: int = 2,
                 use_scale: bool = True,
                 mode: str = 'embedded_gaussian',
                 temperature: float = 0.05,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 num_convs: int = 2,
                 **kwargs):
        super().__init__(num_convs=num_convs, **kwargs)
        self.reduction = reduction
        self.use_scale = use_scale
        self.mode = mode
        self.temperature = temperature
        self.dnl_block = DisentangledNonLocal2d(
            self.channels,
            reduction=reduction,
            use_scale=use_scale,
            mode=mode,
            temperature=temperature,
            norm_cfg=self.norm_cfg,
            conv_cfg=self.conv_cfg,
            memory_budget=memory_budget,
            block_size=block_size)
