"""Attention U-Net: mmseg's ``UNet`` with additive attention gates on its skip
connections.

Paper: Oktay et al., "Attention U-Net: Learning Where to Look for the
Pancreas", MIDL 2018, arXiv 1804.03999 (Sec. 2, Fig. 1 and 2). Official code:
https://github.com/ozan-oktay/Attention-Gated-Networks

The encoder, the decoder blocks and their state-dict keys are mmseg 1.2.2's
``UNet``; the only addition is one :class:`attnplug.layers.AttentionGate` per
gated skip connection, under ``gates.<level>``. With ``attention_gates=False``
the module is mmseg's ``UNet`` (same modules, same keys, same outputs).
"""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from mmengine.model import ModuleDict
from mmengine.registry import DefaultScope
from mmseg.models.backbones.unet import UNet

from attnplug.layers import AttentionGate
from attnplug.registry import MODELS

__all__ = ['AttentionUNet']

# Filled in per level by the backbone; a gate_cfg must not set them.
_GATE_FILLED_KEYS = ('in_channels', 'gating_channels')
# The official code's gate init (He normal, fan_in). It runs after the UNet's
# own init (Kaiming fan_out on every Conv2d), which on the one-channel psi conv
# would give std sqrt(2) and saturate the sigmoid, and before a Pretrained
# init_cfg of the backbone loads its checkpoint.
GATE_INIT_CFG = dict(type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu',
                     distribution='normal', bias=0)


@MODELS.register_module()
class AttentionUNet(UNet):
    """UNet backbone with attention-gated skip connections.

    This backbone is the implementation of `Attention U-Net
    <https://arxiv.org/abs/1804.03999>`_ on top of mmseg's
    :class:`mmseg.models.backbones.UNet` (`U-Net
    <https://arxiv.org/abs/1505.04597>`_). Registered as
    ``attnplug.AttentionUNet``; a drop-in for ``type='UNet'`` in mmseg configs.

    Decoder level ``i`` (``0 <= i < num_stages - 1``; 0 is the finest) fuses
    the skip feature of encoder stage ``i``, ``(N, base_channels * 2**i, H_i,
    W_i)``, with the coarser decoder feature ``x``, ``(N, base_channels *
    2**(i + 1), h, w)``. A gate at level ``i`` replaces the skip by
    ``skip * alpha_i`` before the level's ``UpConvBlock``, where ``alpha_i``
    ``(N, 1, H_i, W_i)`` is computed from the skip and from ``x`` *before* it
    is upsampled, the gating signal of the paper (Sec. 2, Eq. 1-2; Fig. 1).

    At initialisation the gates are not an identity. Their convs get the
    official code's He-normal (fan-in) init, so ``q`` is of order 1 and
    ``alpha = sigmoid(q)`` starts near 0.5 with a mild random spatial pattern
    (about 0.3-0.7 at the stock width): the gated skips start at roughly half
    their magnitude and the output differs from mmseg's ``UNet`` with the
    same weights. ``gate_cfg=dict(init_cfg=...)`` replaces this init.

    Gate maps are kept only when asked: set ``record_gates=True`` and read
    :meth:`gate_maps` after a forward (detached, for visualisation), or call
    ``forward(x, return_gates=True)`` to get them with their graph (e.g. for a
    loss on them). The default forward returns what mmseg's ``UNet`` returns.

    Args:
        in_channels, base_channels, num_stages, strides, enc_num_convs,
            dec_num_convs, downsamples, enc_dilations, dec_dilations, with_cp,
            conv_cfg, norm_cfg, act_cfg, upsample_cfg, norm_eval, dcn,
            plugins, pretrained, init_cfg: As in mmseg's ``UNet``, with the
            same defaults. ``with_cp`` also checkpoints the gates.
        attention_gates (bool | Sequence[bool]): Which skip connections get a
            gate: True for all, False for none (exactly mmseg's ``UNet``), or
            one bool per decoder level ``0 .. num_stages - 2``, finest first.
            Default: True.
        gate_cfg (dict, optional): Arguments of every gate, e.g.
            ``dict(hidden_channels=None, act_cfg=dict(type='ReLU'))``.
            ``hidden_channels`` may be an int, None (``skip_channels // 2`` per
            level) or one value per decoder level. ``type`` picks another gate
            class with :class:`AttentionGate`'s interface (default
            ``'attnplug.AttentionGate'``); ``in_channels`` and
            ``gating_channels`` are filled in per level; ``init_cfg``
            defaults to ``GATE_INIT_CFG``. Default: None.
        record_gates (bool): Keep the last gate maps for :meth:`gate_maps`.
            Default: False.

    Example:
        >>> import torch
        >>> from attnplug.models.backbones import AttentionUNet
        >>> self = AttentionUNet(base_channels=4, record_gates=True).eval()
        >>> outs = self(torch.rand(1, 3, 48, 80))
        >>> [tuple(o.shape[1:]) for o in outs]
        [(64, 3, 5), (32, 6, 10), (16, 12, 20), (8, 24, 40), (4, 48, 80)]
        >>> {k: tuple(v.shape) for k, v in self.gate_maps().items()}
        {0: (1, 1, 48, 80), 1: (1, 1, 24, 40), 2: (1, 1, 12, 20), 3: (1, 1, 6, 10)}
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 num_stages: int = 5,
                 strides: Sequence[int] = (1, 1, 1, 1, 1),
                 enc_num_convs: Sequence[int] = (2, 2, 2, 2, 2),
                 dec_num_convs: Sequence[int] = (2, 2, 2, 2),
                 downsamples: Sequence[bool] = (True, True, True, True),
                 enc_dilations: Sequence[int] = (1, 1, 1, 1, 1),
                 dec_dilations: Sequence[int] = (1, 1, 1, 1),
                 with_cp: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 upsample_cfg: Optional[dict] = dict(type='InterpConv'),
                 norm_eval: bool = False,
                 dcn=None,
                 plugins=None,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 attention_gates: Union[bool, Sequence[bool]] = True,
                 gate_cfg: Optional[dict] = None,
                 record_gates: bool = False):
        # mmseg's UNet builds its upsample modules (InterpConv, DeconvModule)
        # from mmseg's registry, which only the mmseg scope sees: build there,
        # so that the backbone also works outside mmseg configs.
        with DefaultScope.overwrite_default_scope('mmseg'):
            super().__init__(
                in_channels=in_channels,
                base_channels=base_channels,
                num_stages=num_stages,
                strides=strides,
                enc_num_convs=enc_num_convs,
                dec_num_convs=dec_num_convs,
                downsamples=downsamples,
                enc_dilations=enc_dilations,
                dec_dilations=dec_dilations,
                with_cp=with_cp,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                upsample_cfg=upsample_cfg,
                norm_eval=norm_eval,
                dcn=dcn,
                plugins=plugins,
                pretrained=pretrained,
                init_cfg=init_cfg)
        self.with_cp = with_cp
        num_levels = num_stages - 1
        self.gate_levels: Tuple[int, ...] = self._parse_levels(attention_gates, num_levels)
        gate_cls, gate_kwargs, hidden_channels = self._parse_gate_cfg(gate_cfg, num_levels)
        # A ModuleDict (mmengine's, so init_weights reaches the gates) keyed by
        # level: only gated levels have keys, so a plain UNet checkpoint loads
        # with exactly the gate keys missing.
        self.gates = ModuleDict()
        for level in self.gate_levels:
            self.gates[str(level)] = gate_cls(
                in_channels=base_channels * 2**level,
                gating_channels=base_channels * 2**(level + 1),
                hidden_channels=hidden_channels[level],
                **gate_kwargs)
        self._last_gate_maps: Optional[Dict[int, torch.Tensor]] = None
        self.record_gates = record_gates

    # ------------------------------------------------------------------ config checks
    @staticmethod
    def _parse_levels(attention_gates, num_levels: int) -> Tuple[int, ...]:
        if isinstance(attention_gates, bool):
            return tuple(range(num_levels)) if attention_gates else ()
        if not isinstance(attention_gates, (list, tuple)):
            raise TypeError(
                f'AttentionUNet: attention_gates must be a bool or a sequence of {num_levels} '
                f'bools (one per decoder level), got {attention_gates!r}')
        if len(attention_gates) != num_levels:
            raise ValueError(
                f'AttentionUNet: attention_gates has {len(attention_gates)} entries, but a UNet '
                f'with num_stages={num_levels + 1} has {num_levels} skip connections (decoder '
                f'levels 0..{num_levels - 1}, 0 = the full-resolution skip). Give one bool per '
                f'level, or True/False for all.')
        for level, flag in enumerate(attention_gates):
            if flag not in (True, False):  # also accepts 0/1
                raise TypeError(f'AttentionUNet: attention_gates[{level}] must be a bool, '
                                f'got {flag!r}')
        return tuple(level for level, flag in enumerate(attention_gates) if flag)

    @staticmethod
    def _parse_gate_cfg(gate_cfg, num_levels: int):
        cfg = dict(gate_cfg or {})
        gate_type = cfg.pop('type', AttentionGate)
        gate_cls = gate_type if inspect.isclass(gate_type) else MODELS.get(gate_type)
        if gate_cls is None:
            raise KeyError(f"AttentionUNet: gate_cfg['type']={gate_type!r} is not registered; "
                           f"use 'attnplug.AttentionGate' or a class with its interface")
        params = inspect.signature(gate_cls.__init__).parameters
        for key in _GATE_FILLED_KEYS:
            if key in cfg:
                raise ValueError(
                    f"AttentionUNet: gate_cfg must not set '{key}'; the backbone fills it in per "
                    f'level (skip channels base_channels * 2**level, gating channels twice that).')
        unknown = sorted(set(cfg) - set(params) - {'self'})
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            accepted = [k for k in params if k not in ('self', *_GATE_FILLED_KEYS)]
            raise ValueError(
                f'AttentionUNet: gate_cfg has unknown key(s) {unknown} for {gate_cls.__name__}; '
                f'accepted keys: {accepted + ["type"]}')
        if 'init_cfg' in params:
            cfg.setdefault('init_cfg', GATE_INIT_CFG)
        inter = cfg.pop('hidden_channels', None)
        if isinstance(inter, (list, tuple)):
            if len(inter) != num_levels:
                raise ValueError(
                    f"AttentionUNet: gate_cfg['hidden_channels'] has {len(inter)} entries, "
                    f'expected one per decoder level ({num_levels}, finest first), an int or '
                    f'None.')
            inter = list(inter)
        else:
            inter = [inter] * num_levels
        return gate_cls, cfg, inter

    def train(self, mode: bool = True) -> 'AttentionUNet':
        """As mmseg's ``UNet.train`` (``norm_eval`` keeps BN layers in eval
        mode), but returns ``self`` like ``nn.Module.train`` (mmseg's returns
        None, which breaks ``model.eval()`` chains)."""
        super().train(mode)
        return self

    # ------------------------------------------------------------------ gate maps
    @property
    def record_gates(self) -> bool:
        """bool: Whether each forward keeps its gate maps for :meth:`gate_maps`.
        Setting it to False drops the maps kept so far."""
        return self._record_gates

    @record_gates.setter
    def record_gates(self, value: bool) -> None:
        self._record_gates = bool(value)
        if not self._record_gates:
            self._last_gate_maps = None

    def gate_maps(self) -> Dict[int, torch.Tensor]:
        """The gate maps of the last forward, detached.

        Returns:
            dict[int, Tensor]: ``{level: alpha}`` for each gated level, finest
            first; ``alpha`` is ``(N, 1, H_level, W_level)`` in ``[0, 1]``, at
            the resolution of the skip it gates (level 0: the input's).
        """
        if not self.gates:
            raise RuntimeError('AttentionUNet.gate_maps(): this backbone has no attention gates '
                               '(attention_gates=False)')
        if not self.record_gates:
            raise RuntimeError(
                'AttentionUNet.gate_maps(): gate maps are not being recorded; set '
                '`record_gates=True` (in the config, or `model.backbone.record_gates = True`) '
                'before the forward, or call forward(x, return_gates=True)')
        if self._last_gate_maps is None:
            raise RuntimeError('AttentionUNet.gate_maps(): no forward has run since '
                               'record_gates was set')
        return dict(self._last_gate_maps)

    # ------------------------------------------------------------------ forward
    def _gate(self, level: int, skip: torch.Tensor, x: torch.Tensor):
        gate = self.gates[str(level)]
        if self.with_cp and skip.requires_grad:
            return cp.checkpoint(gate, skip, x, True, use_reentrant=False)
        return gate(skip, x, return_attention=True)

    def forward(self, x: torch.Tensor, return_gates: bool = False
                ) -> Union[List[torch.Tensor], Tuple[List[torch.Tensor], Dict[int, torch.Tensor]]]:
        """Forward function.

        Args:
            x (Tensor): Images ``(N, in_channels, H, W)``; ``H`` and ``W``
                divisible by the encoder's whole downsample rate (see
                ``_check_input_divisible``).
            return_gates (bool): Also return the gate maps, with their graph.
                Default: False.

        Returns:
            list[Tensor]: As mmseg's ``UNet``: the encoder's last feature and
            then each decoder level's output, coarsest first (``num_stages``
            tensors). With ``return_gates=True``, a tuple of that list and
            ``{level: alpha (N, 1, H_level, W_level)}``.
        """
        self._check_input_divisible(x)
        enc_outs = []
        for enc in self.encoder:
            x = enc(x)
            enc_outs.append(x)
        dec_outs = [x]
        maps = {}
        for i in reversed(range(len(self.decoder))):
            skip = enc_outs[i]
            if str(i) in self.gates:
                # gating signal: the decoder feature before this level's upsampling (Fig. 2)
                skip, maps[i] = self._gate(i, skip, x)
            x = self.decoder[i](skip, x)
            dec_outs.append(x)
        if self._record_gates:
            self._last_gate_maps = {k: v.detach() for k, v in sorted(maps.items())}
        if return_gates:
            return dec_outs, dict(sorted(maps.items()))
        return dec_outs
