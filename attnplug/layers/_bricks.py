"""Small norm / activation builders shared by the attention layers.

The core must not import mmcv, so ``act_cfg`` / ``gate_cfg`` / ``norm_cfg`` are
resolved here with plain torch modules. A config is a string (``'relu'``) or an
OpenMMLab-style dict (``dict(type='HSigmoid', bias=3.0, divisor=6.0)``); type
names are case-insensitive. Types this module does not know fall back to
mmengine's ``MODELS`` registry (which holds mmcv's layers once mmcv is imported),
so e.g. ``norm_cfg=dict(type='MMSyncBN')`` still works in a full install.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

ConfigType = Union[str, dict, None]


class HardSigmoid(nn.Module):
    """``clamp((x + bias) / divisor, min_value, max_value)``.

    The parametrised hard sigmoid of MobileNetV3 (arXiv 1905.02244); with the
    defaults it equals ``torch.nn.Hardsigmoid``. The same formula as mmcv's
    ``HSigmoid``, so a gate configured with ``dict(type='HSigmoid', bias=3.0,
    divisor=6.0)`` reproduces mmcv-built layers exactly.
    """

    def __init__(self, bias: float = 3.0, divisor: float = 6.0, min_value: float = 0.0,
                 max_value: float = 1.0):
        super().__init__()
        if divisor == 0:
            raise ValueError('HardSigmoid: divisor must be non-zero')
        self.bias, self.divisor = bias, divisor
        self.min_value, self.max_value = min_value, max_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp(self.min_value, self.max_value)

    def extra_repr(self) -> str:
        return f'bias={self.bias}, divisor={self.divisor}'


class HardSwish(nn.Module):
    """``x * relu6(x + 3) / 6`` written out, so that it exports to every opset."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


_ACTIVATIONS = {
    'relu': nn.ReLU,
    'relu6': nn.ReLU6,
    'leakyrelu': nn.LeakyReLU,
    'prelu': nn.PReLU,
    'elu': nn.ELU,
    'gelu': nn.GELU,
    'silu': nn.SiLU,
    'swish': nn.SiLU,
    'tanh': nn.Tanh,
    'sigmoid': nn.Sigmoid,
    'hsigmoid': HardSigmoid,
    'hardsigmoid': HardSigmoid,
    'hswish': HardSwish,
    'hardswish': HardSwish,
    'identity': nn.Identity,
}

_NORMS = {
    'bn': nn.BatchNorm2d,
    'bn2d': nn.BatchNorm2d,
    'syncbn': nn.SyncBatchNorm,
    'gn': nn.GroupNorm,
    'in': nn.InstanceNorm2d,
    'in2d': nn.InstanceNorm2d,
}


def _split(cfg: ConfigType, what: str):
    if isinstance(cfg, str):
        return cfg, {}
    if isinstance(cfg, dict):
        if 'type' not in cfg:
            raise KeyError(f'{what} config {cfg} has no "type" key')
        cfg = dict(cfg)
        return cfg.pop('type'), cfg
    raise TypeError(f'{what} config must be a str, a dict or None, got {type(cfg).__name__}')


def _from_mmengine(type_name, kwargs, *args):
    from mmengine.registry import MODELS
    cls = MODELS.get(type_name) if isinstance(type_name, str) else type_name
    if cls is None:
        return None
    return cls(*args, **kwargs)


def build_activation(cfg: ConfigType) -> nn.Module:
    """Build an activation or gate from a str or dict config; ``None`` gives
    ``nn.Identity``. In-place variants are never used: gates feed products
    whose backward needs their input."""
    if cfg is None:
        return nn.Identity()
    type_name, kwargs = _split(cfg, 'activation')
    kwargs.pop('inplace', None)
    if isinstance(type_name, type):
        return type_name(**kwargs)
    cls = _ACTIVATIONS.get(type_name.lower().replace('_', ''))
    if cls is not None:
        return cls(**kwargs)
    layer = _from_mmengine(type_name, kwargs)
    if layer is None:
        raise KeyError(f'unknown activation type "{type_name}"; known: {", ".join(_ACTIVATIONS)}')
    return layer


def build_norm(cfg: ConfigType, num_features: int) -> nn.Module:
    """Build a 2D norm layer for ``num_features`` channels; ``None`` gives
    ``nn.Identity``. Accepts mmcv's keys (``requires_grad``, ``num_groups``
    for GN)."""
    if cfg is None:
        return nn.Identity()
    type_name, kwargs = _split(cfg, 'norm')
    requires_grad = kwargs.pop('requires_grad', True)
    if isinstance(type_name, type):
        layer = type_name(num_features, **kwargs)
    else:
        cls = _NORMS.get(type_name.lower())
        if cls is nn.GroupNorm:
            if 'num_groups' not in kwargs:
                raise KeyError('norm config of type GN needs "num_groups"')
            layer = nn.GroupNorm(num_channels=num_features, **kwargs)
        elif cls is not None:
            layer = cls(num_features, **kwargs)
        else:
            layer = _from_mmengine(type_name, kwargs, num_features)
            if layer is None:
                raise KeyError(f'unknown norm type "{type_name}"; known: {", ".join(_NORMS)}')
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return layer


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None,
                   min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least
    ``min_value``, default ``divisor``) without dropping below
    ``min_ratio * value``: the channel rounding of the MobileNet papers. With
    ``divisor=1`` an integer ``value`` is returned unchanged (floored at 1)."""
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < min_ratio * value:
        rounded += divisor
    return rounded



def hidden_width(channels: int, reduction: float, hidden_channels: Optional[int] = None,
                 min_hidden_channels: int = 1, divisor: int = 1, owner: str = 'layer') -> int:
    """The width of an attention's hidden representation, in the layers' one vocabulary:
    ``hidden_channels`` when given, else ``channels // reduction`` rounded to a multiple of
    ``divisor`` (:func:`make_divisible`; 1 keeps it) and at least ``min_hidden_channels``."""
    if hidden_channels is not None:
        if hidden_channels < 1:
            raise ValueError(f'{owner}: hidden_channels must be >= 1, got {hidden_channels}')
        return int(hidden_channels)
    if reduction <= 0:
        raise ValueError(f'{owner}: reduction must be > 0, got {reduction}')
    return max(make_divisible(int(channels // reduction), divisor), min_hidden_channels)


#: The values of a layer's ``variant`` argument: the paper's equations, or the authors' released
#: code where it departs from them (each layer's docstring lists how, with the line of code).
VARIANTS = ('paper', 'authors')


def check_variant(variant: str, owner: str) -> str:
    """``variant`` if it is one of :data:`VARIANTS`, else a ``ValueError`` naming ``owner``."""
    if variant not in VARIANTS:
        raise ValueError(f'{owner}: variant must be one of {VARIANTS}, got {variant!r}')
    return variant
