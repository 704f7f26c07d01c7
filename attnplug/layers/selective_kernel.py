"""Selective Kernel convolution.

Paper: Li, Wang, Hu, Yang, "Selective Kernel Networks", CVPR 2019,
arXiv 1903.06586. Official code (Caffe): https://github.com/implus/SKNet

An SK convolution (paper Sec. 3.1) lets each channel choose its receptive field:

* Split: ``M`` branches ``U_m = ReLU(BN(conv_m(X)))``; branch ``m`` is a 3x3
  (grouped) conv with dilation ``m + 1``, so branch 2 sees the 5x5 field of the
  paper's second kernel (the paper itself uses a dilated 3x3 for it);
* Fuse: ``U = sum_m U_m``, ``s = GAP(U)``, ``z = ReLU(BN(W s))`` with
  ``W: C -> d``, ``d = max(C / r, L)`` (Eq. 1-4);
* Select: per channel ``c`` a softmax over branches,
  ``a_m = softmax_m(A_m z)`` and ``V = sum_m a_m * U_m`` (Eq. 5-6).

Defaults follow the paper: ``M=2``, ``r=16``, ``L=32``.

Departures from the paper:

* SKConv has the signature of a conv layer (``build_conv_layer``), so it
  replaces the 3x3 conv of a ResNet/ResNeXt Bottleneck through the ``dcn=``
  slot. The slot's ``dilation`` is the base: branch ``m`` uses
  ``dilation * (m + 1)``, which keeps a dilated (output-stride 8/16) stage
  dilated. ``padding`` must be the "same" padding of the base dilation.
* ``groups`` is the group count of every branch conv. The paper uses grouped
  convs (cardinality 32, SKNet = ResNeXt); a ResNet slot passes no groups, so
  the default is 1 unless the config sets ``groups`` (it must divide both
  channel counts).
* The fc ``W`` and ``A_m`` are bias-free 1x1 convs, ``A_m`` stacked in one conv.
  The BN in the fuse step normalises a ``(N, d, 1, 1)`` descriptor, so training
  needs a batch > 1 per device (or set ``attn_norm_cfg``).
* Argument names follow attnplug's one vocabulary: the fuse width ``d`` is
  ``hidden_channels`` and its floor ``L`` is ``min_hidden_channels``.
* The softmax runs in fp32 (under autocast too).

The authors' Caffe release (implus/SKNet@17dd7086, ``models/sknet50.prototxt``) is the spec:
each SK unit, e.g. ``conv2_1`` (lines 151-466), has two 3x3 branches with ``group: 32``,
the second with ``dilation: 2`` (lines 151-272), each followed by BN and ReLU; their sum is
globally average-pooled, ``B_fc1`` (1x1, no bias, ``num_output: 32`` = ``max(128 / 16, 32)``)
+ BN + ReLU, ``B_fc2`` (1x1, no bias, 2 x 128 outputs) reshaped to ``(N, 2, C, 1)``, a softmax
over the branch axis, and ``a_0 * U_0 + a_1 * U_1`` (``Scale`` then ``Axpy``). That is
``SKConv(C, C, groups=32)`` with the default ``num_branches=2, reduction=16,
min_hidden_channels=32``.

The authors' PyTorch SK-ResNet (implus/PytorchInsight@2864528f,
``classification/models/imagenet/resnet_sk.py``, ``Bottleneck``, from line 52) builds its
branches differently: two undilated 3x3 convs, the first with 1 group and the second with 32
(``conv2``, ``conv2g``, lines 60-63), and a fuse width of ``planes // 16`` with no floor
(lines 72-74). ``branch_cfgs=[dict(groups=1, dilation=1), dict(groups=32, dilation=1)],
min_hidden_channels=1`` reproduces it (the keys map ``conv2``/``bn2`` -> ``branches.0.0/1``,
``conv2g``/``bn2g`` -> ``branches.1.0/1``, ``conv_fc1`` -> ``fc_reduce``, ``bn_fc1`` ->
``fc_norm``, ``conv_fc2`` -> ``fc_select``).
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm, hidden_width
from .base import AttentionModule


@MODELS.register_module()
class SKConv(AttentionModule):
    """Selective Kernel convolution (`SKNet <https://arxiv.org/abs/1903.06586>`_),
    a drop-in for a "same"-padded kxk conv. Registered as ``attnplug.SKConv`` (a
    conv layer for ``build_conv_layer`` and a ResNet ``dcn=`` slot).

    Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H', W')`` with
    ``H' = (H - 1) // stride + 1``, exactly as the conv it replaces.

    Example (mmseg/mmdet ResNet)::

        dcn=dict(type='attnplug.SKConv', num_branches=2, reduction=16),
        stage_with_dcn=(False, True, True, True)

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (required: a conv layer, not a plugin).
        kernel_size (int): Odd kernel size of every branch. Default: 3.
        stride (int): Stride of every branch. Default: 1.
        padding (int): Must equal ``dilation * (kernel_size - 1) // 2``
            (what a conv slot passes); each branch derives its own. Default: 1.
        dilation (int): Base dilation; branch ``m`` uses ``dilation * (m + 1)``.
            Default: 1.
        groups (int): Groups of every branch conv. Default: 1.
        bias (bool): Bias of the branch convs (redundant before BN).
            Default: False.
        num_branches (int): Number of branches ``M``. Default: 2.
        branch_cfgs (list[dict], optional): One dict per branch, overriding that branch's
            ``groups`` and/or ``dilation`` (a multiple of the base ``dilation``; a key left
            out keeps the default: ``m + 1`` and ``groups``), e.g. the authors' PyTorch
            SK-ResNet ``[dict(groups=1, dilation=1), dict(groups=32, dilation=1)]``. None
            gives branch ``m`` ``dilation * (m + 1)`` and ``groups``. Default: None.
        reduction (int): Reduction ratio ``r`` of the fuse fc:
            ``d = max(out_channels // r, L)``. Default: 16.
        hidden_channels (int, optional): ``d`` set explicitly. Default: None.
        min_hidden_channels (int): ``L``, lower bound of the fuse width ``d``.
            Default: 32.
        norm_cfg (dict): Norm of each branch. Default: dict(type='BN').
        act_cfg (str | dict): Activation of each branch and of the fuse fc.
            Default: dict(type='ReLU').
        attn_norm_cfg (dict, optional): Norm of the fuse fc; None uses
            ``norm_cfg``. Default: None.
        init_cfg (dict | list[dict], optional): mmengine init config.
            Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 padding: int = 1,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = False,
                 num_branches: int = 2,
                 branch_cfgs: Optional[Sequence[dict]] = None,
                 reduction: int = 16,
                 hidden_channels: Optional[int] = None,
                 min_hidden_channels: int = 32,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 attn_norm_cfg: ConfigType = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if isinstance(kernel_size, (tuple, list)):
            if len(set(kernel_size)) != 1:
                raise ValueError(f'SKConv: square kernels only, got kernel_size={kernel_size}')
            kernel_size = kernel_size[0]
        if kernel_size % 2 != 1:
            raise ValueError(f'SKConv: kernel_size must be odd, got {kernel_size}')
        if padding != dilation * (kernel_size - 1) // 2:
            raise ValueError(
                f'SKConv: padding={padding} is not the "same" padding '
                f'{dilation * (kernel_size - 1) // 2} of kernel_size={kernel_size}, '
                f'dilation={dilation}; the branches need equal output sizes')
        if num_branches < 1:
            raise ValueError(f'SKConv: num_branches must be >= 1, got {num_branches}')
        if branch_cfgs is None:
            branch_cfgs = [dict(dilation=m + 1, groups=groups) for m in range(num_branches)]
        elif len(branch_cfgs) != num_branches:
            raise ValueError(f'SKConv: branch_cfgs has {len(branch_cfgs)} entries, expected '
                             f'num_branches={num_branches}')
        for cfg in branch_cfgs:
            unknown = set(cfg) - {'dilation', 'groups'}
            if unknown:
                raise ValueError(f'SKConv: branch_cfgs keys must be dilation/groups, got '
                                 f'{sorted(unknown)}')
            g = cfg.get('groups', groups)
            if in_channels % g or out_channels % g:
                raise ValueError(f'SKConv: groups={g} must divide in_channels={in_channels} '
                                 f'and out_channels={out_channels}')
        self.out_channels = out_channels
        self.num_branches = num_branches
        # attributes a conv slot's owner may read
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (stride, stride)
        self.dilation = (dilation, dilation)
        self.groups = groups

        self.branches = nn.ModuleList()
        for m, cfg in enumerate(branch_cfgs):
            d = dilation * cfg.get('dilation', m + 1)
            self.branches.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=d * (kernel_size - 1) // 2, dilation=d,
                              groups=cfg.get('groups', groups), bias=bias),
                    build_norm(norm_cfg, out_channels), build_activation(act_cfg)))

        hidden = self.hidden_channels = hidden_width(out_channels, reduction, hidden_channels,
                                                     min_hidden_channels, owner='SKConv')
        self.fc_reduce = nn.Conv2d(out_channels, hidden, 1, bias=False)
        self.fc_norm = build_norm(norm_cfg if attn_norm_cfg is None else attn_norm_cfg, hidden)
        self.fc_act = build_activation(act_cfg)
        self.fc_select = nn.Conv2d(hidden, out_channels * num_branches, 1, bias=False)

    @classmethod
    def for_channels(cls, in_channels: int) -> 'SKConv':
        """A shape-preserving SK conv (``out_channels = in_channels``), e.g. for a benchmark."""
        return cls(in_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        feats = torch.stack([branch(x) for branch in self.branches], dim=1)  # (N, M, C, H, W)
        s = feats.sum(dim=1).mean(dim=(2, 3), keepdim=True)  # fuse, Eq. 1-2
        z = self.fc_act(self.fc_norm(self.fc_reduce(s)))  # Eq. 3
        logits = self.fc_select(z).view(x.shape[0], self.num_branches, self.out_channels, 1, 1)
        attn = torch.softmax(logits.float(), dim=1).to(feats.dtype)  # Eq. 5
        return (feats * attn).sum(dim=1)  # Eq. 6

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, dilation={self.dilation}, groups={self.groups}, '
                f'num_branches={self.num_branches}')
