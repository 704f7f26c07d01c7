"""PSANet's decode head with the point-wise spatial attention in pure PyTorch."""
from typing import List, Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from attnplug.functional.bounded_attention import DEFAULT_MEMORY_BUDGET
from attnplug.functional.point_wise_spatial_attention import point_wise_spatial_attention
from attnplug.registry import MODELS

PSA_TYPES = ('collect', 'distribute', 'bi-direction')


@MODELS.register_module()
class PSAHead(BaseDecodeHead):
    """Point-wise Spatial Attention Network for Scene Parsing.

    This head is the implementation of `PSANet
    <https://hszhao.github.io/papers/eccv18_psanet.pdf>`_.

    The same model as mmseg 1.2.2's ``PSAHead`` (same state-dict keys, defaults, outputs and
    errors) without mmcv's compiled ``PSAMask`` op: the over-complete attention map is
    gathered into its N×N form by index arithmetic and one ``torch.gather``
    (:func:`attnplug.functional.point_wise_spatial_attention`, whose docstring derives it), so
    the head runs wherever PyTorch runs and exports to ONNX with standard operators (mmcv's op
    exports as the custom node ``mmcv::MMCVPSAMask``, which onnxruntime does not have).

    Memory: mmseg's head scatters each over-complete map into a full N×N tensor (N = h·w of
    the shrunk map) and takes its softmax; this head computes softmax and product over blocks
    of output positions, so it holds at most ``memory_budget`` bytes of the N×N map at a time.
    The over-complete map that the ``attention`` conv predicts, ``mask_h·mask_w`` values per
    position, is inherent to PSANet and remains: with the mask covering the feature map as in
    mmseg's configs it has about 4·N² values (``docs/backbone_hooks.md`` gives measurements).

    Args:
        mask_size (tuple[int]): The PSA mask size ``(mask_h, mask_w)``. It usually equals the
            input size.
        psa_type (str): 'collect', 'distribute' or 'bi-direction'. Default: 'bi-direction'.
        compact (bool): The ``attention`` conv predicts the N×N map itself (needs
            ``mask_h · mask_w`` equal to the shrunk map's ``h · w``). Default: False.
        shrink_factor (int): The attention runs on the feature map downsampled by this
            factor. Default: 2.
        normalization_factor (float): Divides the attention's output; None means
            ``mask_h · mask_w``. Default: 1.0.
        psa_softmax (bool): Softmax of the attention map over source positions.
            Default: True.
        memory_budget (int): Bytes one block of the N×N map (fp32 logits and their int64
            index) may take. Default: 256 MiB.
        block_size (int, optional): Output positions per block; overrides ``memory_budget``.
            Default: None.
        **kwargs: Arguments of mmseg's ``BaseDecodeHead``.

    Shapes:
        (B, in_channels, H, W) feature -> (B, num_classes, H, W) logits.
    """

    def __init__(self,
                 mask_size,
                 psa_type: str = 'bi-direction',
                 compact: bool = False,
                 shrink_factor: int = 2,
                 normalization_factor: Optional[float] = 1.0,
                 psa_softmax: bool = True,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        if psa_type not in PSA_TYPES:
            # mmseg asserts, so a wrong psa_type is an AssertionError there and here
            raise AssertionError(f'{type(self).__name__}: psa_type must be one of '
                                 f'{PSA_TYPES}, got {psa_type!r}')
        self.psa_type = psa_type
        self.compact = compact
        self.shrink_factor = shrink_factor
        self.mask_size = mask_size
        mask_h, mask_w = mask_size
        self.psa_softmax = psa_softmax
        if normalization_factor is None:
            normalization_factor = mask_h * mask_w
        self.normalization_factor = normalization_factor
        self.memory_budget = memory_budget
        self.block_size = block_size

        self.reduce = self._conv1x1(self.in_channels, self.channels)
        self.attention = self._attention_branch(mask_h * mask_w)
        if psa_type == 'bi-direction':
            self.reduce_p = self._conv1x1(self.in_channels, self.channels)
            self.attention_p = self._attention_branch(mask_h * mask_w)
        self.proj = ConvModule(
            self.channels * (2 if psa_type == 'bi-direction' else 1),
            self.in_channels,
            kernel_size=1,
            padding=1,  # as mmseg: the 1×1 conv pads, the map is resized back afterwards
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.bottleneck = ConvModule(
            self.in_channels * 2,
            self.channels,
            kernel_size=3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _conv1x1(self, in_channels: int, out_channels: int) -> ConvModule:
        return ConvModule(in_channels, out_channels, kernel_size=1, conv_cfg=self.conv_cfg,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _attention_branch(self, mask_channels: int) -> nn.Sequential:
        """The 1×1 convs that predict the over-complete map (keys ``attention.0``,
        ``attention.1``)."""
        return nn.Sequential(
            self._conv1x1(self.channels, self.channels),
            nn.Conv2d(self.channels, mask_channels, kernel_size=1, bias=False))

    def _shrink(self, h: int, w: int):
        """mmseg's shrunk size and ``align_corners``: odd sizes keep their corners."""
        s = self.shrink_factor
        if h % s and w % s:
            return (h - 1) // s + 1, (w - 1) // s + 1, True
        return h // s, w // s, False

    def _attend(self, x: Tensor, logits: Tensor, kind: str) -> Tensor:
        return point_wise_spatial_attention(
            x, logits, kind, mask_size=self.mask_size, softmax=self.psa_softmax,
            normalization_factor=self.normalization_factor, block_size=self.block_size,
            memory_budget=self.memory_budget)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Forward function."""
        x = self._transform_inputs(inputs)
        identity = x
        align_corners = self.align_corners
        branches = [(self.reduce, self.attention)]
        if self.psa_type == 'bi-direction':
            branches.append((self.reduce_p, self.attention_p))
        feats = [reduce(x) for reduce, _ in branches]
        if self.shrink_factor != 1:
            h, w, align_corners = self._shrink(*feats[0].shape[2:])
            feats = [resize(f, size=(h, w), mode='bilinear', align_corners=align_corners)
                     for f in feats]
        # How each branch reads its map, as mmseg's forward: in compact mode only the
        # 'collect' branch of a single-type head and the distribute branch ('attention_p')
        # of a bi-directional one are transposed.
        if self.psa_type == 'bi-direction':
            kinds = (['compact', 'compact_transposed'] if self.compact
                     else ['collect', 'distribute'])
        elif self.compact:
            kinds = ['compact_transposed' if self.psa_type == 'collect' else 'compact']
        else:
            kinds = [self.psa_type]
        outs = [self._attend(f, attention(f), kind)
                for f, (_, attention), kind in zip(feats, branches, kinds)]
        out = self.proj(torch.cat(outs, dim=1) if len(outs) > 1 else outs[0])
        out = resize(out, size=identity.shape[2:], mode='bilinear',
                     align_corners=align_corners)
        out = self.bottleneck(torch.cat((identity, out), dim=1))
        return self.cls_seg(out)
