"""DANet's decode head on attnplug's memory-bounded position attention."""
from typing import List, Optional, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.utils import SampleList, add_prefix
from torch import Tensor

from attnplug.functional.bounded_attention import DEFAULT_MEMORY_BUDGET
from attnplug.layers.danet import ChannelAttention, PositionAttention
from attnplug.registry import MODELS


@MODELS.register_module()
class DAHead(BaseDecodeHead):
    """Dual Attention Network for Scene Segmentation.

    This head is the implementation of `DANet <https://arxiv.org/abs/1809.02983>`_.

    The same model as mmseg's ``DAHead`` (same state-dict keys and outputs): a position
    branch ``pam_in_conv -> pam -> pam_out_conv`` and a channel branch
    ``cam_in_conv -> cam -> cam_out_conv``, classified alone (``pam_conv_seg``,
    ``cam_conv_seg``) and summed (``conv_seg``). The position attention is attnplug's
    :class:`~attnplug.layers.PositionAttention`, which never holds more than
    ``memory_budget`` bytes of attention scores (mmseg's builds the N×N map: 4 GiB per image
    on a 128×256 feature map).

    Args:
        pam_channels (int): Query/key channels of the position attention.
        memory_budget (int): Bytes one fp32 block of position-attention scores may take.
            Default: 256 MiB.
        block_size (int, optional): Query rows per attention block; overrides
            ``memory_budget``. Default: None.
        **kwargs: Arguments of mmseg's ``BaseDecodeHead``.

    Shapes:
        ``forward`` returns ``(pam_cam, pam, cam)`` logits, each (B, num_classes, H, W) for an
        input feature of (B, in_channels, H, W); ``predict`` uses only ``pam_cam``.
    """

    def __init__(self,
                 pam_channels: int,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.pam_channels = pam_channels
        self.pam_in_conv = self._conv3x3(self.in_channels)
        self.pam = PositionAttention(
            self.channels, pam_channels, memory_budget=memory_budget, block_size=block_size)
        self.pam_out_conv = self._conv3x3(self.channels)
        self.pam_conv_seg = nn.Conv2d(self.channels, self.num_classes, kernel_size=1)

        self.cam_in_conv = self._conv3x3(self.in_channels)
        self.cam = ChannelAttention(self.channels)
        self.cam_out_conv = self._conv3x3(self.channels)
        self.cam_conv_seg = nn.Conv2d(self.channels, self.num_classes, kernel_size=1)

    def _conv3x3(self, in_channels: int) -> ConvModule:
        return ConvModule(in_channels, self.channels, 3, padding=1, conv_cfg=self.conv_cfg,
                          norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def pam_cls_seg(self, feat: Tensor) -> Tensor:
        """Classify the position-attention feature."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.pam_conv_seg(feat)

    def cam_cls_seg(self, feat: Tensor) -> Tensor:
        """Classify the channel-attention feature."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.cam_conv_seg(feat)

    def _forward_feature(self, inputs: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """The two branch features, each (B, channels, H, W)."""
        x = self._transform_inputs(inputs)
        pam_feat = self.pam_out_conv(self.pam(self.pam_in_conv(x)))
        cam_feat = self.cam_out_conv(self.cam(self.cam_in_conv(x)))
        return pam_feat, cam_feat

    def forward(self, inputs: List[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Returns the ``(pam_cam, pam, cam)`` logits."""
        pam_feat, cam_feat = self._forward_feature(inputs)
        # mmseg's order of the three dropouts, so that seeded training runs match it.
        pam_out, cam_out = self.pam_cls_seg(pam_feat), self.cam_cls_seg(cam_feat)
        return self.cls_seg(pam_feat + cam_feat), pam_out, cam_out

    def predict(self, inputs: List[Tensor], batch_img_metas: List[dict], test_cfg,
                **kwargs) -> Tensor:
        """Segmentation logits from ``pam_cam`` only (the side classifiers are skipped)."""
        pam_feat, cam_feat = self._forward_feature(inputs)
        return self.predict_by_feat(self.cls_seg(pam_feat + cam_feat), batch_img_metas,
                                    **kwargs)

    def loss_by_feat(self, seg_logit: Tuple[Tensor, Tensor, Tensor],
                     batch_data_samples: SampleList, **kwargs) -> dict:
        """The decode losses of ``pam_cam``, ``pam`` and ``cam``, prefixed by their names
        (``pam_cam.loss_ce``, ``pam.loss_ce``, ``cam.loss_ce``, ``*.acc_seg``)."""
        losses = dict()
        for name, logit in zip(('pam_cam', 'pam', 'cam'), seg_logit):
            losses.update(
                add_prefix(super().loss_by_feat(logit, batch_data_samples), name))
        return losses
