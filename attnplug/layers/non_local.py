"""Non-local block for 2D feature maps.

"Non-local Neural Networks", Wang, Girshick, Gupta and He, arXiv 1711.07971
(official code: https://github.com/facebookresearch/video-nonlocal-net).

``y_i = 1/C(x) Σ_j f(x_i, x_j) g(x_j)`` (Eq. 1) followed by ``z = W_z y + x`` (Eq. 6), with
the pairwise functions of Sec. 3.2: Gaussian and embedded Gaussian (softmax over
``θ(x_i)ᵀ φ(x_j)``) and dot product (``C(x) = N``, no softmax).

Departures from the paper, all as in mmcv's ``NonLocal2d`` (mmcv/cnn/bricks/non_local.py,
whose state-dict keys ``g``, ``theta``, ``phi``, ``conv_out`` this module keeps, so its
weights load directly):

* ``use_scale`` divides the embedded-Gaussian energies by ``sqrt(inter_channels)``
  (not in the paper; it is the scaled dot product of arXiv 1706.03762).
* ``sub_sample`` max-pools ``g`` and ``φ`` by 2 (Sec. 4.1 of the paper, applied to the keys
  only). On maps smaller than 2 pixels in a direction, where mmcv would fail, the pooling
  is skipped.
* The ``'concatenation'`` pairwise function is not offered: it needs a ReLU of every pair,
  i.e. an N×N tensor by construction.

The attention itself runs through :func:`attnplug.functional.attention`, so no N×N matrix is
built for large maps (mmcv's builds it): the dot-product mode is computed as
``θ (φᵀ g) / N`` in O(N), the others by fused or query-chunked attention.

The authors' code is Caffe2 (video networks), so the golden reference is mmcv 2.1.0's
``NonLocal2d`` (tests/golden/test_authors_non_local.py, and tests/layers/test_non_local.py for
every mode).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import constant_init, normal_init

from ..functional.bounded_attention import DEFAULT_MEMORY_BUDGET, attention, attention_probs
from ..registry import MODELS
from ._bricks import build_norm
from .base import AttentionMap, AttentionModule, query_cell, query_label

__all__ = ['NonLocal2d']


def _norm_abbr(norm: nn.Module) -> str:
    """The attribute name mmcv's ``ConvModule`` gives a norm layer (for key compatibility)."""
    if hasattr(norm, '_abbr_'):
        return norm._abbr_
    if isinstance(norm, nn.modules.instancenorm._InstanceNorm):
        return 'in'
    if isinstance(norm, nn.modules.batchnorm._BatchNorm):
        return 'bn'
    if isinstance(norm, nn.GroupNorm):
        return 'gn'
    if isinstance(norm, nn.LayerNorm):
        return 'ln'
    return 'norm'


class _Conv1x1(nn.Module):
    """A 1×1 conv with an optional norm, laid out like mmcv's ``ConvModule`` (``conv``,
    then the norm under ``bn``/``gn``/...; the conv has a bias only without a norm)."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Optional[dict] = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=norm_cfg is None)
        self.norm_name = None
        if norm_cfg is not None:
            norm = build_norm(norm_cfg, out_channels)
            self.norm_name = _norm_abbr(norm)
            self.add_module(self.norm_name, norm)

    @property
    def norm(self) -> Optional[nn.Module]:
        return getattr(self, self.norm_name) if self.norm_name else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.norm(x) if self.norm_name else x


@MODELS.register_module()
class NonLocal2d(AttentionModule):
    """Non-local block (`Non-local Neural Networks <https://arxiv.org/abs/1711.07971>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W), ``out = x + W_z(y)``. ``W_z``
    (``conv_out``, or its norm when ``norm_cfg`` is set) starts at zero, so the block is an
    identity at init.

    Args:
        in_channels (int): Channels C of the input.
        reduction (int): ``inter_channels = max(C // reduction, 1)``. Default: 2.
        use_scale (bool): Divide the embedded-Gaussian energies by
            ``sqrt(inter_channels)``. Default: True.
        mode (str): 'embedded_gaussian', 'gaussian' or 'dot_product'.
            Default: 'embedded_gaussian'.
        sub_sample (bool): Max-pool the keys and values (``phi``, ``g``) by 2.
            Default: False.
        norm_cfg (dict, optional): Norm after ``conv_out`` (e.g. ``dict(type='BN')``).
            Default: None.
        conv_cfg (dict, optional): Only ``None`` / ``dict(type='Conv2d')``. Default: None.
        std (float): Std of the normal init of ``g``, ``theta``, ``phi``. Default: 0.01.
        zeros_init (bool): Zero-init ``conv_out`` (identity at init). Default: True.
        memory_budget (int): Bytes of one fp32 score block of the chunked attention.
            Default: 256 MiB.
        block_size (int, optional): Query rows per attention block (overrides the budget).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.

    mmcv's constructor order is ``(in_channels, sub_sample, conv_cfg, **kwargs)``; this one
    follows attnplug's (``in_channels``, then the width ``reduction``). Pass the options by
    keyword, as every mmcv / mmseg config does.
    """

    _abbr_ = 'nonlocal_block'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 2,
                 use_scale: bool = True,
                 mode: str = 'embedded_gaussian',
                 sub_sample: bool = False,
                 norm_cfg: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 std: float = 0.01,
                 zeros_init: bool = True,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if mode not in ('embedded_gaussian', 'gaussian', 'dot_product'):
            raise ValueError(f"NonLocal2d: mode must be 'embedded_gaussian', 'gaussian' or "
                             f"'dot_product', got {mode!r} ('concatenation' builds an N×N "
                             f'tensor by construction and is not offered)')
        if conv_cfg is not None and conv_cfg.get('type') not in ('Conv2d', 'Conv'):
            raise ValueError(f'NonLocal2d: only conv_cfg=None or dict(type="Conv2d") is '
                             f'supported, got {conv_cfg}')
        self.reduction = reduction
        self.inter_channels = max(in_channels // reduction, 1)
        self.use_scale = use_scale
        self.mode = mode
        self.sub_sample = sub_sample
        self.std = std
        self.zeros_init = zeros_init
        self.memory_budget = memory_budget
        self.block_size = block_size

        pool = nn.MaxPool2d(kernel_size=(2, 2)) if sub_sample else None
        self.g = self._maybe_pooled(_Conv1x1(in_channels, self.inter_channels), pool)
        if mode != 'gaussian':
            self.theta = _Conv1x1(in_channels, self.inter_channels)
            self.phi = self._maybe_pooled(_Conv1x1(in_channels, self.inter_channels), pool)
        elif sub_sample:
            self.phi = pool
        self.conv_out = _Conv1x1(self.inter_channels, in_channels, norm_cfg=norm_cfg)
        self.reset_parameters()

    @staticmethod
    def _maybe_pooled(proj: nn.Module, pool: Optional[nn.Module]) -> nn.Module:
        # Same nesting as mmcv (``g.0.conv.weight`` with sub-sampling) for key compatibility.
        return nn.Sequential(proj, pool) if pool is not None else proj

    def reset_parameters(self) -> None:
        """Normal init of the embeddings; zero ``W_z`` so that the block is an identity
        (mmcv's ``init_weights(std, zeros_init)``)."""
        for name in ('g', 'theta', 'phi'):
            m = getattr(self, name, None)
            if isinstance(m, nn.Sequential):
                m = m[0]
            if isinstance(m, _Conv1x1):
                normal_init(m.conv, std=self.std)
        target = self.conv_out.norm if self.conv_out.norm_name else self.conv_out.conv
        if self.zeros_init:
            constant_init(target, 0)
        else:
            normal_init(target, std=self.std)

    @staticmethod
    def _keys(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Apply a (possibly sub-sampled) key/value projection; skip the 2×2 pooling on
        maps it cannot halve."""
        if isinstance(module, nn.Sequential) and min(x.shape[-2:]) < 2:
            return module[0](x)
        if isinstance(module, nn.MaxPool2d) and min(x.shape[-2:]) < 2:
            return x
        return module(x)

    def _attend_inputs(self, x: torch.Tensor):
        """``(q, k, v, scale)`` of Eq. 1: q (B, N, c), k and v (B, Nk, c) (Nk = N / 4 with
        ``sub_sample``), and the energies' factor."""
        self.check_input(x)
        value = self._keys(self.g, x)
        if self.mode == 'gaussian':
            query = x
            key = self._keys(self.phi, x) if self.sub_sample else x
        else:
            query = self.theta(x)
            key = self._keys(self.phi, x)
        # (B, c, H, W) -> (B, N, c)
        q, k, v = (t.flatten(2).transpose(1, 2) for t in (query, key, value))
        scale = q.shape[-1]**-0.5 if (self.mode == 'embedded_gaussian'
                                      and self.use_scale) else 1.0
        return q, k, v, scale, key.shape[2:]

    @property
    def _attention_mode(self) -> str:
        return 'dot_product' if self.mode == 'dot_product' else 'softmax'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        b, _, h, w = x.shape
        q, k, v, scale, _ = self._attend_inputs(x)
        y = attention(q, k, v, scale=scale, mode=self._attention_mode,
                      memory_budget=self.memory_budget, block_size=self.block_size)
        y = y.transpose(1, 2).reshape(b, self.inter_channels, h, w)
        return x + self.conv_out(y)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries: Sequence = ((0.5, 0.5), )) -> List[AttentionMap]:
        """Where each query pixel looks: its row ``f(x_i, ·) / C(x)`` of Eq. 1, (B, h, w)
        fp32 per query on the key grid (half size with ``sub_sample``). It sums to 1 except
        in ``'dot_product'`` mode (``C(x) = N``, no softmax). O(N) per query."""
        b, _, h, w = x.shape
        q, k, _, scale, key_hw = self._attend_inputs(x)
        out = []
        for point in queries:
            r, c = query_cell(point, h, w)
            idx = r * w + c
            row = attention_probs(q[:, idx:idx + 1], k, scale=scale, mode=self._attention_mode)
            out.append(AttentionMap(query_label(point), row.reshape(b, *key_hw), tuple(point)))
        return out

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, mode={self.mode!r}, '
                f'inter_channels={self.inter_channels}, sub_sample={self.sub_sample}')
