"""Contextual Transformer (CoT) block.

Paper: Li, Yao, Pan, Mei, "Contextual Transformer Networks for Visual Recognition", IEEE TPAMI
45(2):1489-1500, 2023, arXiv 2107.12292. Official code: https://github.com/JDAI-CV/CoTNet
(``models/cotnet.py``, class ``CotLayer``).

CoT replaces the 3×3 convolution of a ResNet bottleneck (paper Sec. 3.2, Fig. 2). For an
input ``X`` (keys = queries = ``X``):

1. static context: ``K¹ = ReLU(BN(Conv_k×k(X)))``, a grouped ``k×k`` conv over each key's
   neighbourhood;
2. attention (Eq. 1): ``A = [K¹, Q] W_θ W_δ``, two 1×1 convs (``W_θ`` with BN and ReLU),
   giving a ``k×k`` local attention matrix at every position for each group of channels,
   normalised by a GroupNorm (the authors' code; the paper's "normalisation");
3. dynamic context (Eq. 2): ``K² = A ⊛ V`` with ``V = BN(Conv_1×1(X))``: every position's
   ``k×k`` neighbourhood of ``V`` weighted by its own ``A`` (a local matrix multiplication),
   then BN and Swish;
4. fusion: the static and dynamic contexts are mixed by a split attention over the two
   (an SE on their sum, softmax over the two per channel): ``Y = a₁ K² + a₂ K¹``.

``A`` has ``C / share_planes`` channels per kernel tap: channel ``c`` of ``V`` is weighted by
attention channel ``c mod (C / share_planes)`` (the authors' CUDA kernel indexes it so).

The local matrix multiplication is a custom CUDA op in the authors' code (cupy,
``cupy_layers/aggregation_zeropad.py``, ``LocalConvolution``), which runs on a GPU only; their
file tests it against a pure-PyTorch formula (``torch.nn.Unfold``; the ``y2`` of
``test_aggregation_zeropad``). Here it is pure PyTorch as a sum over the ``k²`` kernel taps of
shifted, zero-padded copies of ``V``: the same sums, with no ``k²``-times-larger unfolded tensor,
and it exports to ONNX. The golden record ``tests/golden/authors/cot.pt`` (made by
``benchmarks/golden/make_cot.py``) runs the authors' ``CotLayer`` class from their file with
``LocalConvolution`` replaced by that Unfold formula, on a CPU; their CUDA kernel itself was not
run (no GPU was available). The state-dict keys are theirs (``key_embed``, ``embed``,
``conv1x1``, ``bn``, ``se``), so CoTNet's layer weights load as they are.

Departures from the authors' code:

* the local aggregation is pure PyTorch (above);
* the split-attention hidden width ``max(2C / 4, 32)`` and the Swish after the dynamic
  context are the authors' and fixed; ``kernel_size``, ``key_groups``, ``share_planes`` and
  ``reduction`` (the authors' ``factor``) are arguments with their values as defaults;
* a channel count the layer cannot split raises a ``ValueError`` naming the argument (their
  code fails inside a conv or a view).

Not an identity at init, and not residual: like the 3×3 conv it replaces, its output is a new
feature (a softmax mix of two contexts).
"""
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS
from ._bricks import hidden_width
from .base import AttentionMap, AttentionModule, query_cell, query_label


def local_aggregation(value: torch.Tensor, weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``out[b, c, y, x] = Σ_j weight[b, c mod G, j, y, x] · value[b, c, y + dy_j, x + dx_j]``
    over the ``k²`` taps ``j`` of a ``k×k`` window, zero outside the map (the authors'
    ``aggregation_zeropad`` with stride 1 and dilation 1).

    Args:
        value (Tensor): (B, C, H, W).
        weight (Tensor): (B, G, k², H, W), ``C`` a multiple of ``G``.
    """
    b, c, h, w = value.shape
    groups = weight.shape[1]
    pad = kernel_size // 2
    padded = F.pad(value, (pad, pad, pad, pad)).view(b, c // groups, groups, h + 2 * pad,
                                                     w + 2 * pad)
    out = value.new_zeros(b, c // groups, groups, h, w)
    for j in range(kernel_size * kernel_size):
        dy, dx = divmod(j, kernel_size)
        out = out + weight[:, None, :, j] * padded[..., dy:dy + h, dx:dx + w]
    return out.view(b, c, h, w)


@MODELS.register_module()
class ContextualTransformer(AttentionModule):
    """Contextual Transformer block (`CoT <https://arxiv.org/abs/2107.12292>`_), a drop-in for a
    3×3 conv with ``in_channels`` in and out: static context from a ``k×k`` conv, dynamic
    context from local attention guided by it. Registered as
    ``attnplug.ContextualTransformer``; the plugin layer name is ``cot``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``; ``C`` must be a multiple
    of ``key_groups`` and of ``share_planes``.

    Args:
        in_channels (int): Channels of the input (and of the output).
        reduction (int): Hidden width of the attention embedding ``W_θ`` is
            ``in_channels // reduction`` (the authors' ``factor``). Default: 2.
        kernel_size (int): The local window ``k`` (odd). Default: 3.
        key_groups (int): Groups of the ``k×k`` key conv. Default: 4.
        share_planes (int): Channels that share one local attention matrix: ``A`` has
            ``in_channels // share_planes`` channels per tap. Default: 8.
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'cot'
    radix = 2  # static and dynamic context

    def __init__(self,
                 in_channels: int,
                 reduction: int = 2,
                 kernel_size: int = 3,
                 key_groups: int = 4,
                 share_planes: int = 8,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        name = 'ContextualTransformer'
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'{name}: kernel_size must be odd, got {kernel_size}')
        for arg, value in (('key_groups', key_groups), ('share_planes', share_planes)):
            if value < 1 or in_channels % value:
                raise ValueError(f'{name}: in_channels must be a multiple of {arg}={value}, '
                                 f'got in_channels={in_channels}')
        c, k2 = in_channels, kernel_size * kernel_size
        hidden = hidden_width(c, reduction, owner=name)  # the authors' dim // factor
        self.kernel_size, self.share_planes = kernel_size, share_planes
        attn_groups = c // share_planes
        # static context K¹ (step 1)
        self.key_embed = nn.Sequential(
            nn.Conv2d(c, c, kernel_size, padding=kernel_size // 2, groups=key_groups,
                      bias=False),
            nn.BatchNorm2d(c), nn.ReLU())
        # local attention A = [K¹, Q] W_θ W_δ (step 2, Eq. 1)
        self.embed = nn.Sequential(
            nn.Conv2d(2 * c, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, k2 * attn_groups, 1),
            nn.GroupNorm(num_groups=attn_groups, num_channels=k2 * attn_groups))
        # value V and the dynamic context's norm and activation (step 3, Eq. 2)
        self.conv1x1 = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.SiLU()
        # split attention over the two contexts (step 4)
        fusion = max(c * self.radix // 4, 32)
        self.se = nn.Sequential(
            nn.Conv2d(c, fusion, 1), nn.BatchNorm2d(fusion), nn.ReLU(),
            nn.Conv2d(fusion, self.radix * c, 1))

    def _local_attention(self, x: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """``A`` of Eq. 1, (B, C / share_planes, k², H, W)."""
        b, _, h, w = x.shape
        attn = self.embed(torch.cat([x, static], dim=1))
        return attn.view(b, -1, self.kernel_size * self.kernel_size, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        b, c, _, _ = x.shape
        static = self.key_embed(x)  # K¹
        attn = self._local_attention(x, static)
        dynamic = local_aggregation(self.conv1x1(x), attn, self.kernel_size)  # K², Eq. 2
        dynamic = self.act(self.bn(dynamic))
        gap = (dynamic + static).mean(dim=(2, 3), keepdim=True)
        mix = self.se(gap).view(b, c, self.radix).softmax(dim=2)  # per channel, over contexts
        return dynamic * mix[:, :, 0, None, None] + static * mix[:, :, 1, None, None]

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries=((0.5, 0.5), )) -> List[AttentionMap]:
        """For each query point: its ``k×k`` local attention ``A`` (averaged over the attention
        channels) placed on the input grid around the query, zero elsewhere, (B, H, W)."""
        self.check_input(x)
        b, _, h, w = x.shape
        k, pad = self.kernel_size, self.kernel_size // 2
        attn = self._local_attention(x, self.key_embed(x)).float().mean(1)  # (B, k², H, W)
        maps = []
        for point in queries:
            row, col = query_cell(point, h, w)
            canvas = attn.new_zeros(b, h + 2 * pad, w + 2 * pad)
            canvas[:, row:row + k, col:col + k] = attn[:, :, row, col].view(b, k, k)
            maps.append(AttentionMap(f'{query_label(point)}: local {k}x{k} attention',
                                     canvas[:, pad:pad + h, pad:pad + w], query=tuple(point)))
        return maps

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, kernel_size={self.kernel_size}, '
                f'share_planes={self.share_planes}')
