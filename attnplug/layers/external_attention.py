"""External attention: attention against two small learned memories, linear in N.

Paper: Guo, Liu, Mu, Hu, "Beyond Self-attention: External Attention using Two Linear Layers for
Visual Tasks", IEEE TPAMI 2022, arXiv 2105.02358. Official code:
https://github.com/MenghaoGuo/EANet (the authors' PyTorch code, ``model_torch.py``, class
``External_attention``; the same repository also has Jittor code, not used here).

Self-attention compares every position with every other; external attention compares each
position with ``S`` learned memory units ``M_k`` and reads the result from a second memory
``M_v`` (paper Eq. 5-6 and Alg. 1, ``S = 64``)::

    A = Norm(F M_kᵀ)        # (S, N): softmax over the N positions, then l1 over the S units
    F_out = A M_v

The "double normalisation" (Eq. 7-8) is ``softmax`` over positions followed by dividing each
position's column by its sum over the units (plus 1e-9). ``M_k`` and ``M_v`` are 1×1
convolutions without bias. The block around it is the authors' (their EANet head): a 1×1 conv
with bias before, a 1×1 conv and a BN after, and a residual connection::

    y = act(BN(Conv(A(Conv(x)) M_v)) + x)

No tensor is larger than ``max(C, S) · N`` per sample: the module is linear in ``N`` (the
test checks the largest intermediate against ``N²`` and its growth with ``N``).

Equal to the authors' ``External_attention(c=C)`` with ``act_cfg=dict(type='ReLU')`` (golden
record ``tests/golden/authors/external-attention.pt``, made by
``benchmarks/golden/make_external_attention.py``; their SyncBN is a BN on one process). The
state-dict keys are theirs (``conv1``, ``linear_0`` = ``M_k``, ``linear_1`` = ``M_v``,
``conv2.0``, ``conv2.1``).

Departures from the authors' code:

* no activation after the residual sum by default (``act_cfg=None``): the authors apply a ReLU
  there, harmless in their head, whose input is already a ReLU output, but a ReLU would cut the
  negative half of a feature anywhere else in a network; ``act_cfg=dict(type='ReLU')`` restores
  it;
* identity at init: :meth:`reset_parameters` zeroes the output BN's ``γ`` and ``β`` (the output
  conv when ``norm_cfg=None``), so the block starts as ``y = x`` (the authors start ``γ`` at 1);
* two independent memories: the authors set ``linear_1.weight.data`` to a transposed *view* of
  ``linear_0.weight``, so the two parameters share one storage; an in-place optimiser step
  keeps them tied (``M_v = M_kᵀ``) for the whole of training, and loading a state dict leaves
  both at the transpose of ``linear_1`` (measured). The paper describes two memories, and here
  ``M_v`` starts as a copy of ``M_kᵀ`` and then trains on its own. A record of their tied
  weights loads and matches;
* the memory size is ``hidden_channels`` (the layers' vocabulary for a hidden width; the paper's
  ``S``, fixed at 64 in their code).
"""
from typing import List

import torch
import torch.nn as nn

from ..registry import MODELS
from ._bricks import ConfigType, build_activation, build_norm
from .base import AttentionMap, AttentionModule, query_cell, query_label


@MODELS.register_module()
class ExternalAttention(AttentionModule):
    """External attention (`EANet <https://arxiv.org/abs/2105.02358>`_): each position attends
    to ``S`` learned memory units instead of to the other positions, in the authors' residual
    block. Registered as ``attnplug.ExternalAttention``; the plugin layer name is
    ``external_attn``.

    Input and output have shape ``(N, C, H, W)``, ``C = in_channels``.

    Args:
        in_channels (int): Channels of the input (and of the output).
        hidden_channels (int): The number of memory units ``S``. Default: 64 (the paper).
        norm_cfg (dict, optional): Norm after the output conv. Default: dict(type='BN').
        act_cfg (str | dict, optional): Activation after the residual sum; the authors' block
            has dict(type='ReLU'). Default: None (so that the block starts as an identity).
        init_cfg (dict | list[dict], optional): mmengine init config. Default: None.
    """

    _abbr_ = 'external_attn'
    #: Added to the l1 norm over the memory units (the authors' 1e-9).
    eps = 1e-9

    def __init__(self,
                 in_channels: int,
                 hidden_channels: int = 64,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = None,
                 init_cfg=None):
        super().__init__(in_channels, init_cfg=init_cfg)
        if hidden_channels < 1:
            raise ValueError(f'ExternalAttention: hidden_channels (the memory size S) must be '
                             f'>= 1, got {hidden_channels}')
        self.hidden_channels = hidden_channels
        self.conv1 = nn.Conv2d(in_channels, in_channels, 1)
        self.linear_0 = nn.Conv1d(in_channels, hidden_channels, 1, bias=False)  # M_k
        self.linear_1 = nn.Conv1d(hidden_channels, in_channels, 1, bias=False)  # M_v
        with torch.no_grad():  # M_v starts as M_kᵀ, as in the authors' code (a copy here)
            self.linear_1.weight.copy_(self.linear_0.weight.transpose(0, 1))
        self.conv2 = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1, bias=False), build_norm(norm_cfg, in_channels))
        self.activation = build_activation(act_cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        conv, norm = self.conv2
        if getattr(norm, 'weight', None) is not None:
            nn.init.zeros_(norm.weight)
            nn.init.zeros_(norm.bias)
        else:
            nn.init.zeros_(conv.weight)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        """The double-normalised attention ``A`` of Eq. 7-8, (B, S, N)."""
        self.check_input(x)
        logits = self.linear_0(self.conv1(x).flatten(2))  # (B, S, N)
        attn = logits.softmax(dim=2)  # over the positions
        return attn / (self.eps + attn.sum(dim=1, keepdim=True))  # l1 over the memory units

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear_1(self._attention(x)).view_as(x)  # A M_v
        return self.activation(self.conv2(out) + x)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor, *,
                       queries=((0.5, 0.5), )) -> List[AttentionMap]:
        """For each query point: the attention map ``A[s, :]`` (over positions) of the memory
        unit ``s`` that the query position weighs most, (B, H, W). Positions bright in it read
        mostly the same memory unit as the query."""
        b, _, h, w = x.shape
        attn = self._attention(x).float()  # (B, S, N)
        maps = []
        for point in queries:
            row, col = query_cell(point, h, w)
            unit = attn[:, :, row * w + col].argmax(dim=1)  # (B, )
            top = attn[torch.arange(b), unit]  # (B, N)
            maps.append(AttentionMap(f'{query_label(point)}: its top memory unit',
                                     top.view(b, h, w), query=tuple(point)))
        return maps

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, hidden_channels={self.hidden_channels}'
