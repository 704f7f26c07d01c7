"""The base class of every attnplug layer, and the attention-map protocol.

One convention for ``attnplug/layers`` (written out, with an example layer, in
``docs/contributing.md``):

* every layer is an :class:`AttentionModule` (an mmengine ``BaseModule``, so it takes
  ``init_cfg``); every one-input layer is constructible as ``cls(in_channels=C)`` with every
  other argument at its default -- that is how ``build_plugin_layer`` builds a plugin -- and
  ``cls.for_channels(C)`` builds any registered layer (the two-input attention gate also needs
  ``gating_channels``, the ``SKConv`` conv layer ``out_channels``);
* constructor arguments come in one order with one vocabulary: ``in_channels`` first, then
  the width of the attention's hidden representation (``reduction``, ``hidden_channels``,
  ``min_hidden_channels``, ``divisor``), then the module's own options, then ``norm_cfg``,
  ``act_cfg`` (activations inside the module), ``gate_cfg`` (the function that turns logits
  into weights), and ``init_cfg`` last. A layer that replaces an mmcv / mmseg class keeps
  that class's names instead (``ratio`` of mmcv's ``ContextBlock``, ``channels`` of mmseg's
  ``PAM``);
* a learned residual gain is a :class:`~attnplug.layers.scale.Scale`;
* the layer's own initialisation (zero gains, the identity start of a residual layer) lives in
  :meth:`AttentionModule.reset_parameters`, as in PyTorch's and mmcv's layers. A layer calls
  it at the end of its ``__init__`` (so it is an identity as soon as it is built), and
  :meth:`AttentionModule.init_weights` calls it again after ``init_cfg`` (so the identity
  survives a parent backbone's re-initialisation, which runs before its children's
  ``init_weights``);
* a layer with a spatial map to show implements ``attention_maps`` (see
  :class:`AttentionMap`); channel-only layers (SE, ECA, CAM, SK, ARM) do not.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from .contract import check_channels

__all__ = ['AttentionModule', 'AttentionMap', 'QueryPoint', 'query_cell', 'query_label',
           'has_attention_maps', 'registered_layers']

#: A query point as ``(x, y)`` fractions of the width and height of the layer's input grid;
#: ``(0.5, 0.5)`` is the centre.
QueryPoint = Tuple[float, float]


@dataclass
class AttentionMap:
    """One map a layer shows for a batch (the return type of ``attention_maps``).

    Attributes:
        label (str): What the map is (``'spatial gate Ms'``, ``'query (0.50, 0.50)'``).
        maps (Tensor): (B, h, w) fp32, detached: on the layer's input grid, or on its key grid
            (a sub-sampled non-local block's keys are half size).
        query (tuple[float, float], optional): For a query map (where one position looks):
            its query point, ``(x, y)`` fractions of the input grid. None for a gate map.
        module (str): The layer's name in a model; filled in by the caller that knows it
            (:class:`attnplug.visualization.attention_maps.AttentionRecorder`). Default: ''.
        type (str): The layer's class name; filled in likewise. Default: ''.
    """
    label: str
    maps: torch.Tensor
    query: Optional[QueryPoint] = None
    module: str = ''
    type: str = ''


def query_cell(point: QueryPoint, h: int, w: int) -> Tuple[int, int]:
    """``(x, y)`` fractions -> the ``(row, col)`` of the cell of an ``h × w`` grid that holds
    that point (cell ``i`` spans ``[i/h, (i+1)/h)``)."""
    if len(point) != 2:
        raise ValueError(f'query point {point} must be a pair (x, y) of fractions in [0, 1]')
    x, y = float(point[0]), float(point[1])
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f'query point {point} must be (x, y) fractions in [0, 1]')
    return min(int(y * h), h - 1), min(int(x * w), w - 1)


def query_label(point: QueryPoint) -> str:
    return f'query ({point[0]:.2f}, {point[1]:.2f})'


def has_attention_maps(module: nn.Module) -> bool:
    """Whether ``module`` implements the attention-map protocol (any class, attnplug's or not,
    with an ``attention_maps`` method)."""
    return callable(getattr(module, 'attention_maps', None))


def registered_layers() -> Dict[str, type]:
    """Every layer registered in ``attnplug.registry.MODELS`` that follows the convention
    (an :class:`AttentionModule`), ``{registered name: class}``, sorted by name. Build one with
    ``cls.for_channels(C)`` and feed it ``layer.example_inputs(B, H, W)``.
    This is how the visualiser's and the benchmarks' module lists stay complete."""
    import attnplug.layers  # noqa: F401  (registration)
    from ..registry import MODELS
    return {name: cls for name, cls in sorted(MODELS.module_dict.items())
            if isinstance(cls, type) and issubclass(cls, AttentionModule)}


def _is_pretrained(init_cfg) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') in ('Pretrained', 'PretrainedInit')
               for c in cfgs)


class AttentionModule(BaseModule):
    """Base class of attnplug's layers (see the module docstring for the convention).

    A subclass sets ``_abbr_`` (the plugin layer name ``build_plugin_layer`` gives it), calls
    ``super().__init__(in_channels, init_cfg=init_cfg)`` first, and ends its ``__init__``
    with ``self.reset_parameters()`` when it overrides that method.

    The attention-map protocol: a layer with a spatial map defines ::

        @torch.no_grad()
        def attention_maps(self, x, *, queries=((0.5, 0.5), )) -> List[AttentionMap]

    whose positional arguments are the tensor inputs of its ``forward`` (``x``; an attention
    gate's ``x, g``) and whose ``queries`` are :data:`QueryPoint` s for the position-dependent
    (query) maps. It returns one :class:`AttentionMap` per gate map and one per query point,
    computed through the same code path as ``forward``, in the layer's current mode.

    Args:
        in_channels (int): Channels of the input (dim 1 of ``(N, C, H, W)``).
        init_cfg (dict | list[dict], optional): mmengine init config, applied by
            :meth:`init_weights` before :meth:`reset_parameters` (a ``Pretrained`` init_cfg
            is applied last and is not reset). Default: None.
    """

    _abbr_ = 'attention'

    #: Old state-dict keys this layer still writes and reads, ``{saved key: parameter key}``
    #: (relative to the layer). BAM saved its gain as ``gamma`` before the gain became a
    #: :class:`Scale` (``gamma.scale``); it keeps ``{'gamma': 'gamma.scale'}`` so that its
    #: checkpoints, old and new, keep the same keys.
    _saved_keys: Dict[str, str] = {}

    def __init__(self, in_channels: int, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        if self._saved_keys:
            self.register_state_dict_post_hook(_to_saved_keys)
            self.register_load_state_dict_pre_hook(_from_saved_keys)
            self.register_load_state_dict_post_hook(_report_saved_keys)

    def reset_parameters(self) -> None:
        """The layer's own initialisation; the default keeps PyTorch's. Residual layers
        override it to restore their identity start (a zero gain or output projection)."""

    def init_weights(self) -> None:
        """Apply ``init_cfg`` (mmengine), then :meth:`reset_parameters` unless ``init_cfg``
        loads pretrained weights."""
        super().init_weights()
        if not _is_pretrained(self.init_cfg):
            self.reset_parameters()

    @classmethod
    def for_channels(cls, in_channels: int) -> 'AttentionModule':
        """The layer at its defaults for ``in_channels`` input channels: ``cls(in_channels=C)``
        for every one-input layer; a layer that needs more (the attention gate's
        ``gating_channels``) overrides it. With :meth:`example_inputs`, how the benchmarks and
        tests build and run a layer they know only by its registered name."""
        return cls(in_channels=in_channels)

    def example_inputs(self, batch: int, height: int, width: int) -> Tuple[torch.Tensor, ...]:
        """Random inputs of ``forward`` for a ``(batch, in_channels, height, width)`` feature
        (what the benchmarks and tests feed a layer they know only by its registered name).
        Layers with more inputs than ``x`` (the attention gate's ``g``) override it."""
        return (torch.randn(batch, self.in_channels, height, width), )

    def check_input(self, x: torch.Tensor) -> None:
        """A clear error naming the layer and ``in_channels`` on a wrong input."""
        check_channels(self, x, self.in_channels)


def _to_saved_keys(module: AttentionModule, state_dict, prefix: str, local_metadata):
    for saved, key in module._saved_keys.items():
        if prefix + key in state_dict:
            # rebuild in order, so the saved key sits where the parameter was
            items = [(prefix + saved if k == prefix + key else k, v)
                     for k, v in state_dict.items()]
            state_dict.clear()
            state_dict.update(items)


def _from_saved_keys(module: AttentionModule, state_dict, prefix: str, *args):
    module._loading_prefix = prefix  # for _report_saved_keys: the hook is not given it
    for saved, key in module._saved_keys.items():
        if prefix + saved in state_dict and prefix + key not in state_dict:
            state_dict[prefix + key] = state_dict.pop(prefix + saved)


def _report_saved_keys(module: AttentionModule, incompatible_keys) -> None:
    """Report a missing parameter under the key the layer saves it as (``gamma``, not
    ``gamma.scale``), so that missing keys name what a checkpoint would hold."""
    prefix = module.__dict__.pop('_loading_prefix', None)
    if prefix is None:
        return
    missing = incompatible_keys.missing_keys
    for saved, key in module._saved_keys.items():
        if prefix + key in missing:
            missing[missing.index(prefix + key)] = prefix + saved

