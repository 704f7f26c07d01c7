"""Attention Refinement Module of BiSeNet.

Paper: Yu, Wang, Peng, Gao, Yu, Sang, "BiSeNet: Bilateral Segmentation Network
for Real-time Semantic Segmentation", ECCV 2018, arXiv 1808.00897.

The ARM (paper Sec. 3.2, Fig. 2(b)) refines a context-path feature with a
global channel attention: global average pooling, a 1x1 conv, batch norm and a
sigmoid give channel weights that multiply the feature.

Departure from the paper: by default a 3x3 conv + BN + ReLU (``in_channels ->
out_channels``) runs first and the attention weights its output. The paper's
figure has no such conv; it comes from the authors' released code (ycszen/TorchSeg@62eeb159,
by the first author: ``furnace/seg_opr/seg_oprs.py:196-198``, ``AttentionRefinement``, which
this module equals with ``out_channels`` set: tests/golden/test_authors_attention_refinement.py)
and from
mmseg's ``AttentionRefinementModule`` (``mmseg/models/backbones/bisenetv1.py``),
which this class reproduces exactly with copied weights (key mapping:
``conv_layer.conv`` -> ``conv``, ``conv_layer.bn`` -> ``norm``,
``atten_conv_layer.1.conv`` -> ``attn_conv``, ``atten_conv_layer.1.bn`` ->
``attn_norm``). ``with_input_conv=False`` gives the paper's module.
"""
from typing import Optional

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm
from .base import AttentionModule


@MODELS.register_module()
class AttentionRefinementModule(AttentionModule):
    """Attention Refinement Module (`BiSeNet <https://arxiv.org/abs/1808.00897>`_).
    Registered as ``attnplug.AttentionRefinementModule``; the plugin layer name
    is ``arm``.

    Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H, W)``; with
    ``out_channels=None`` it is a shape-preserving plugin.

    Args:
        in_channels (int): Input channels.
        out_channels (int, optional): Output channels of the input conv; None
            keeps ``in_channels``. Must equal ``in_channels`` when
            ``with_input_conv=False``. Default: None.
        with_input_conv (bool): Run a 3x3 conv + norm + act before the
            attention (mmseg / official code). Default: True.
        norm_cfg (dict): Norm of the input conv and of the attention conv.
            Default: dict(type='BN').
        act_cfg (str | dict): Activation of the input conv. Default: dict(type='ReLU').
        gate_cfg (str | dict): Gate of the attention. Default: dict(type='Sigmoid').
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    _abbr_ = 'arm'

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 with_input_conv: bool = True,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 gate_cfg: ConfigType = dict(type='Sigmoid'),
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if out_channels is None:
            out_channels = in_channels
        if not with_input_conv and out_channels != in_channels:
            raise ValueError(f'AttentionRefinementModule: out_channels={out_channels} needs '
                             f'with_input_conv=True to map from in_channels={in_channels}')
        self.out_channels = out_channels
        self.with_input_conv = with_input_conv
        with_bias = norm_cfg is None
        if with_input_conv:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=with_bias)
            self.norm = build_norm(norm_cfg, out_channels)
            self.act = build_activation(act_cfg)
        self.attn_conv = nn.Conv2d(out_channels, out_channels, 1, bias=with_bias)
        self.attn_norm = build_norm(norm_cfg, out_channels)
        self.gate = build_activation(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.with_input_conv:
            x = self.act(self.norm(self.conv(x)))
        attn = self.gate(self.attn_norm(self.attn_conv(x.mean(dim=(2, 3), keepdim=True))))
        return x * attn
