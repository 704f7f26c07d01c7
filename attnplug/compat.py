"""What the OpenMMLab 1.x/3.x stack needs from a modern PyTorch, done safely.

Checkpoints
-----------
Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles
only allowlisted types. mmengine 0.10.7 saves its ``MessageHub`` state in every
checkpoint, i.e. :class:`mmengine.logging.HistoryBuffer` objects holding numpy
arrays, and numpy scalars in ``runtime_info``. The stock ``tools/test.py``,
``--resume`` and ``load_from`` therefore fail with
``UnpicklingError: Unsupported global: ...HistoryBuffer``.

:func:`allow_mmengine_checkpoints` allowlists exactly those types with
``torch.serialization.add_safe_globals``. It never turns ``weights_only`` off,
so a checkpoint that pickles any other object is still refused by torch, with
an error that names the object. It runs when :mod:`attnplug` is imported, which
happens in the stock tools as soon as a config names an ``attnplug.*`` type or
lists ``custom_imports=dict(imports=['attnplug'])``.

Distributed runs on a CPU-only torch
------------------------------------
:func:`cpu_distributed_overrides` / :func:`enable_cpu_distributed` are applied by
``tools/train.py`` and ``tools/test.py`` when a launcher is used without CUDA
(see STACK.md): mmengine calls ``torch.cuda.set_device`` unconditionally and
wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on CPU.
"""
import pickle
from typing import Dict, List

import numpy as np
import torch

__all__ = ['mmengine_checkpoint_globals', 'allow_mmengine_checkpoints',
           'cpu_distributed_overrides', 'enable_cpu_distributed']

# numpy dtypes that mmengine's logs and metrics hold (HistoryBuffer arrays, metric scalars).
_NUMPY_SCALAR_TYPES = ('float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8',
                       'uint8', 'bool')


# HistoryBuffer.__getstate__ stores its statistics methods, pickled as
# ``getattr(HistoryBuffer, 'mean')``. Allowlisting ``builtins.getattr`` itself would
# let a checkpoint reach any attribute of any allowed object (and from there, code).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside ``torch.load(weights_only=True)``.

    It resolves only ``HistoryBuffer``'s statistics methods (the defaults and
    those added with ``HistoryBuffer.register_statistics``) and refuses anything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = set(_HISTORY_BUFFER_METHODS) | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'attnplug: checkpoint asks for getattr({obj!r}, {name!r}); only '
        f'HistoryBuffer statistics methods {sorted(allowed)} are allowed when loading '
        'with weights_only=True (see attnplug.compat)')


def mmengine_checkpoint_globals() -> List[object]:
    """The exact non-tensor types an mmengine 0.10.7 checkpoint pickles.

    Returns entries for ``torch.serialization.add_safe_globals``: objects, or
    ``(object, 'legacy.qualified.name')`` pairs for checkpoints written with
    numpy 1.x, whose pickles name ``numpy.core`` instead of ``numpy._core``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    entries: List[object] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (history_buffer_getattr, 'builtins.getattr'),
    ]
    # numpy >= 1.25 pickles a dtype through its class, e.g. numpy.dtypes.Float64DType.
    for name in _NUMPY_SCALAR_TYPES:
        entries.append(type(np.dtype(name)))
    return entries


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints (idempotent)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4: weights_only is off by default there
        return
    add_safe_globals(mmengine_checkpoint_globals())


def cpu_distributed_overrides() -> Dict[str, object]:
    """Config overrides for a distributed run without CUDA (gloo, DDP on CPU)."""
    return {
        'env_cfg.dist_cfg.backend': 'gloo',
        'model_wrapper_cfg.type': 'MMDistributedDataParallel',
        'model_wrapper_cfg.device_ids': None,
    }


def enable_cpu_distributed() -> None:
    """Make ``torch.cuda.set_device`` a no-op when this torch has no CUDA.

    mmengine's ``init_dist`` calls it for every launcher; on a CPU-only build it
    raises ``AttributeError: ... _cuda_setDevice``. Only applied by attnplug's
    tools, and only when ``torch.cuda.is_available()`` is False.
    """
    if torch.cuda.is_available():
        return

    def _set_device_noop(device):  # noqa: ARG001  (no CUDA device to select)
        return None

    torch.cuda.set_device = _set_device_noop
