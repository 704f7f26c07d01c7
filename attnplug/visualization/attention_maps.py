"""Attention and gate maps of a model's layers, for visualisation.

Every map comes from the layer itself, through the attention-map protocol of
:class:`attnplug.layers.base.AttentionModule`: a layer with a map to show has
``attention_maps(*inputs, queries=...) -> list[AttentionMap]``, computed through the same code
as its forward. This module only finds such layers in a model (:func:`find_modules`), captures
the inputs they saw during one forward (:class:`AttentionRecorder`, forward hooks removed
afterwards) and calls that method. Nothing here knows any layer's internals, so a new layer --
attnplug's or a third party's -- is drawn as soon as it implements the method.

Two kinds of map, both ``(B, h, w)`` fp32:

* **gate maps**, one per image: the spatial weights a layer multiplies its input with (CBAM's
  ``Ms``, the attention gate's ``alpha``, ...) or the pooling weights of a global context block;
* **query maps**, one per image and query point: where one position looks (DANet's position
  attention, non-local blocks, multi-head self-attention, criss-cross attention).

Query points are ``(x, y)`` fractions of the layer's input grid, ``(0.5, 0.5)`` being the
centre; :func:`grid_point` maps them to a ``(row, col)`` cell.
"""
import fnmatch
import inspect
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..layers.base import (AttentionMap, QueryPoint, has_attention_maps, query_cell,
                           registered_layers)

__all__ = ['AttentionMap', 'grid_point', 'supported_types', 'find_modules',
           'module_attention_maps', 'AttentionRecorder', 'ALL_MODULES']

#: The hook's and the tool's default pattern: every layer that implements the protocol.
ALL_MODULES = ('*', )

grid_point = query_cell


def supported_types() -> Tuple[str, ...]:
    """The registered attnplug layers that have maps to show (that implement
    ``attention_maps``)."""
    return tuple(name for name, cls in registered_layers().items()
                 if callable(getattr(cls, 'attention_maps', None)))


# ------------------------------------------------------------------------ module search
def _matches(name: str, module: nn.Module, pattern: str) -> bool:
    cls = type(module).__name__
    return (pattern == cls or pattern == name or fnmatch.fnmatchcase(name, pattern)
            or fnmatch.fnmatchcase(cls, pattern))


def find_modules(model: nn.Module, patterns: Sequence[str] = ALL_MODULES
                 ) -> List[Tuple[str, nn.Module]]:
    """The submodules of ``model`` that match any of ``patterns`` and implement
    ``attention_maps``.

    A pattern is a class name (``'CBAM'``), a module name (``'decode_head.pam'``) or a
    shell-style pattern over either (``'backbone.layer4.*'``, ``'*Attention*'``, ``'*'``).
    """
    return [(name, module) for name, module in model.named_modules()
            if has_attention_maps(module) and any(_matches(name, module, p) for p in patterns)]


def _tensor_inputs(module: nn.Module, args: tuple, kwargs: dict) -> List[torch.Tensor]:
    """The tensor arguments of a forward call, in the forward's parameter order: the
    positional arguments of ``attention_maps``."""
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
    except TypeError:  # a forward without an inspectable signature: positional tensors
        return [a for a in args if torch.is_tensor(a)]
    return [v for v in bound.arguments.values() if torch.is_tensor(v)]


@torch.no_grad()
def module_attention_maps(name: str, module: nn.Module, args: tuple, kwargs: dict,
                          points: Sequence[QueryPoint] = ((0.5, 0.5), )
                          ) -> List[AttentionMap]:
    """The maps of one layer for the input it saw (``args`` / ``kwargs`` of its forward), by
    its own ``attention_maps``, in eval mode (norms use their running statistics).

    Args:
        name (str): The layer's name in the model, for the labels.
        module (nn.Module): A layer that implements ``attention_maps``.
        args (tuple), kwargs (dict): The inputs of its forward call.
        points (sequence[tuple[float, float]]): Query points, (x, y) fractions of the
            layer's input grid. Default: the centre.
    """
    if not has_attention_maps(module):
        raise TypeError(f'{type(module).__name__} has no attention_maps(); layers with maps: '
                        f'{", ".join(supported_types())}')
    was_training = module.training
    module.eval()
    try:
        maps = module.attention_maps(*_tensor_inputs(module, args, kwargs),
                                     queries=tuple(points))
    finally:
        module.train(was_training)
    return [replace(m, maps=m.maps.detach().float().cpu(), module=name,
                    type=type(module).__name__) for m in maps]


# ---------------------------------------------------------------------------- recording
class AttentionRecorder:
    """Capture the inputs of chosen modules (and of the model's data preprocessor) during one
    forward, with forward hooks that are removed afterwards.

    Use as a context manager around a forward (``model.test_step(data)``), then call
    :meth:`maps`. Only the first call of each module is kept (slide inference and test-time
    augmentation call a module several times; ``calls`` counts them)::

        with AttentionRecorder(model, ['CBAM', 'PositionAttention']) as rec:
            model.test_step(data)
        maps = rec.maps([(0.5, 0.5)])          # list[AttentionMap]
        images = rec.images()                  # RGB uint8 images the model saw

    Args:
        model (nn.Module): The model (unwrapped or wrapped; ``.module`` is used if present).
        patterns (sequence[str]): See :func:`find_modules`.
    """

    def __init__(self, model: nn.Module, patterns: Sequence[str] = ALL_MODULES):
        self.model = getattr(model, 'module', model)
        self.modules = find_modules(self.model, patterns)
        self.inputs: Dict[str, Tuple[tuple, dict]] = {}
        self.calls: Dict[str, int] = {}
        self.raw_images: Optional[List[torch.Tensor]] = None
        self.input_shape: Optional[Tuple[int, int]] = None
        self.channel_conversion = False
        self._handles: List[Any] = []

    def _capture(self, name: str):

        def hook(module, args, kwargs, output):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name not in self.inputs:
                self.inputs[name] = (tuple(a.detach() if torch.is_tensor(a) else a
                                           for a in args),
                                     {k: v.detach() if torch.is_tensor(v) else v
                                      for k, v in kwargs.items()})

        return hook

    def _capture_preprocessor(self, module, args, kwargs, output):
        data = args[0] if args else kwargs.get('data')
        if self.raw_images is None and isinstance(data, dict):
            inputs = data.get('inputs')
            if isinstance(inputs, torch.Tensor):
                inputs = list(inputs)
            if isinstance(inputs, (list, tuple)) and inputs and torch.is_tensor(inputs[0]):
                self.raw_images = [t.detach().cpu() for t in inputs]
        if self.input_shape is None and isinstance(output, dict) and torch.is_tensor(
                output.get('inputs')):
            self.input_shape = tuple(output['inputs'].shape[-2:])

    def __enter__(self) -> 'AttentionRecorder':
        for name, module in self.modules:
            self._handles.append(
                module.register_forward_hook(self._capture(name), with_kwargs=True))
        pre = getattr(self.model, 'data_preprocessor', None)
        if isinstance(pre, nn.Module):
            self.channel_conversion = bool(getattr(pre, '_channel_conversion', False)
                                           or getattr(pre, 'channel_conversion', False))
            self._handles.append(
                pre.register_forward_hook(self._capture_preprocessor, with_kwargs=True))
        return self

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __exit__(self, *exc) -> None:
        self.remove()

    def images(self) -> List[Any]:
        """The images the model saw (after resizing, before normalisation and padding) as
        RGB uint8 ``(H, W, 3)`` numpy arrays; empty when the model has no data
        preprocessor or was called on tensors directly."""
        import numpy as np

        out = []
        for t in self.raw_images or []:
            img = t.float().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            if img.shape[2] == 3 and self.channel_conversion:
                img = img[..., ::-1]  # the loader's BGR -> RGB
            out.append(np.ascontiguousarray(img))
        return out

    def maps(self, points: Sequence[QueryPoint] = ((0.5, 0.5), ),
             index: Optional[int] = None) -> List[AttentionMap]:
        """The maps of every captured module, in model order.

        Args:
            points (sequence[tuple[float, float]]): (x, y) fractions of each module's
                input grid.
            index (int, optional): Only this image of the batch (the maps then have a batch
                dim of 1). Default: the whole batch.
        """
        out: List[AttentionMap] = []
        for name, module in self.modules:
            if name in self.inputs:
                args, kwargs = self.inputs[name]
                if index is not None:
                    args = tuple(_batch_item(a, index) for a in args)
                    kwargs = {k: _batch_item(v, index) for k, v in kwargs.items()}
                out.extend(module_attention_maps(name, module, args, kwargs, points))
        return out


def _batch_item(value: Any, index: int) -> Any:
    return value[index:index + 1] if torch.is_tensor(value) and value.dim() >= 1 else value
