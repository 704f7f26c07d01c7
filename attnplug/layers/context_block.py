"""Global context block of GCNet.

"GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond", Cao, Xu, Lin, Wei
and Hu, arXiv 1904.11492 (official code: https://github.com/xvjiarui/GCNet).

Context modelling (Sec. 4.2, Fig. 4): one query-independent attention map
``softmax_j(W_k x_j)`` pools the whole map into one C-vector (``'att'``; ``'avg'`` is plain
global average pooling). Transform: ``W_v2 ReLU(LN(W_v1 ·))`` with bottleneck ``C·ratio``.
Fusion: broadcast ``x + transform`` (``'channel_add'``) and/or ``x · sigmoid(transform)``
(``'channel_mul'``).

The layout and state-dict keys are those of mmcv's ``ContextBlock``
(mmcv/cnn/bricks/context_block.py), so its weights load directly. Departures: the
attention-pooling softmax runs in fp32 under autocast, and the bottleneck is at least one
channel. The block is an exact identity at init only with ``fusion_types=('channel_add',)``
(the last conv of the transform is zero); ``'channel_mul'`` starts at ``x · sigmoid(0) = x/2``,
as in the paper and mmcv.

mmcv's block is the authors' (xvjiarui/GCNet@029db540 ``mmdet/ops/gcb/context_block.py``,
``ContextBlock``, with the same keys); at their configs' ``ratio=1/16`` (e.g.
``configs/gcnet/r101/backbone_syncbn/mask_rcnn_r16_gcb_c3-c5_r101_fpn_syncbn_1x.py:14-16``) this
module equals it (tests/golden/test_authors_context_block.py).
"""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmengine.model import constant_init, kaiming_init

from ..registry import MODELS
from .base import AttentionMap, AttentionModule

__all__ = ['GlobalContextBlock']


@MODELS.register_module()
class GlobalContextBlock(AttentionModule):
    """Global context (GC) block (`GCNet <https://arxiv.org/abs/1904.11492>`_).

    Shape-preserving: (B, C, H, W) -> (B, C, H, W). Costs O(C·H·W) for the pooling, so it
    fits every stage (mmdet puts it ``after_conv3`` of c3-c5 with ratio 1/16).

    Args:
        in_channels (int): Channels C of the input.
        ratio (float): Bottleneck ratio of the transform, ``planes = int(C * ratio)``
            (at least 1). mmcv's name, kept (attnplug's other layers say ``reduction``,
            its inverse). Default: 1/16 (mmcv's ``ContextBlock`` has no default).
        pooling_type (str): 'att' (attention pooling) or 'avg'. Default: 'att'.
        fusion_types (Sequence[str]): Any of 'channel_add', 'channel_mul'.
            Default: ('channel_add', ).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'context_block'

    def __init__(self,
                 in_channels: int,
                 ratio: float = 1. / 16,
                 pooling_type: str = 'att',
                 fusion_types: Sequence[str] = ('channel_add', ),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if pooling_type not in ('att', 'avg'):
            raise ValueError(f"GlobalContextBlock: pooling_type must be 'att' or 'avg', "
                             f'got {pooling_type!r}')
        fusion_types = tuple(fusion_types)
        if not fusion_types or any(f not in ('channel_add', 'channel_mul')
                                   for f in fusion_types):
            raise ValueError(f"GlobalContextBlock: fusion_types must be a non-empty subset of "
                             f"('channel_add', 'channel_mul'), got {fusion_types}")
        self.ratio = ratio
        self.planes = max(int(in_channels * ratio), 1)
        self.pooling_type = pooling_type
        self.fusion_types = fusion_types
        if pooling_type == 'att':
            self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)
        self.channel_add_conv = (self._transform()
                                 if 'channel_add' in fusion_types else None)
        self.channel_mul_conv = (self._transform()
                                 if 'channel_mul' in fusion_types else None)
        self.reset_parameters()

    def _transform(self) -> nn.Sequential:
        # Indices 0, 1, 3 hold the weights, matching mmcv's keys (2 is the ReLU).
        return nn.Sequential(
            nn.Conv2d(self.in_channels, self.planes, kernel_size=1),
            nn.LayerNorm([self.planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.planes, self.in_channels, kernel_size=1))

    def reset_parameters(self) -> None:
        """Kaiming (fan-in) init of the attention mask conv; zero the last conv of each
        transform (an identity with 'channel_add' only). As mmcv's ``reset_parameters``."""
        if self.pooling_type == 'att':
            kaiming_init(self.conv_mask, mode='fan_in')
        for transform in (self.channel_add_conv, self.channel_mul_conv):
            if transform is not None:
                constant_init(transform[-1], 0)

    def _pooling_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 2 of arXiv 1904.11492: ``softmax_j(W_k x_j)`` over all positions j,
        (B, 1, H·W) fp32."""
        return self.conv_mask(x).flatten(2).float().softmax(dim=-1)

    def spatial_pool(self, x: torch.Tensor) -> torch.Tensor:
        """Global context of each image: (B, C, H, W) -> (B, C, 1, 1)."""
        b, c = x.shape[:2]
        if self.pooling_type == 'avg':
            return x.mean(dim=(2, 3), keepdim=True)
        weights = self._pooling_weights(x)  # (B, 1, N)
        context = torch.matmul(x.flatten(2), weights.to(x.dtype).transpose(1, 2))  # (B, C, 1)
        return context.reshape(b, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args:
            x (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        self.check_input(x)
        context = self.spatial_pool(x)
        out = x
        if self.channel_mul_conv is not None:
            out = out * torch.sigmoid(self.channel_mul_conv(context))
        if self.channel_add_conv is not None:
            out = out + self.channel_add_conv(context)
        return out

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *, queries=()) -> List[AttentionMap]:
        """The attention-pooling weights, (B, H, W), summing to 1 per image; none with
        ``pooling_type='avg'`` (uniform weights show nothing)."""
        self.check_input(x)
        if self.pooling_type != 'att':
            return []
        b, _, h, w = x.shape
        return [AttentionMap('context pooling weights',
                             self._pooling_weights(x).reshape(b, h, w))]

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, planes={self.planes}, '
                f'pooling_type={self.pooling_type!r}, fusion_types={self.fusion_types}')
