"""What the OpenMMLab 1.x/3.x stack needs from a modern PyTorch, done safely.

Checkpoints
-----------
Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles
only allowlisted types. mmengine 0.10.7 saves its ``MessageHub`` state in every
checkpoint, i.e. :class:`mmengine.logging.HistoryBuffer` objects holding numpy
arrays, and numpy scalars in ``runtime_info``. The stock ``tools/test.py``,
``--resume`` and ``load_from`` therefore fail with
``UnpicklingError: Unsupported global: ...HistoryBuffer``.

:func:`allow_mmengine_checkpoints` allowlists exactly the names those checkpoints
use, with ``torch.serialization.add_safe_globals``, process-wide. It never turns
``weights_only`` off, so a checkpoint that pickles any other object is still
refused by torch, with an error that names the object. Each allowlisted name
resolves to a checked stand-in, never to the original callable: a crafted file
can neither call anything beyond numpy's array/scalar rebuilding nor change any
state outside the objects it builds (mmengine's ``HistoryBuffer.__setstate__``
writes the file's statistics into a class-level dict shared by every buffer;
:class:`SafeHistoryBuffer` does not). The table of names, and the malicious files
the tests load, are in docs/security.md.

It runs when :mod:`attnplug` is imported, which happens in the stock tools as
soon as a config names an ``attnplug.*`` type or lists
``custom_imports=dict(imports=['attnplug'])``.

Distributed runs on a CPU-only torch
------------------------------------
:func:`cpu_distributed_overrides` / :func:`enable_cpu_distributed` are applied by
``tools/train.py`` and ``tools/test.py`` when a launcher is used without CUDA
(see STACK.md): mmengine calls ``torch.cuda.set_device`` unconditionally and
wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on CPU.
"""
import pickle
import sys
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['mmengine_checkpoint_globals', 'allow_mmengine_checkpoints', 'SafeHistoryBuffer',
           'cpu_distributed_overrides', 'enable_cpu_distributed']

HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'

# The numpy dtypes mmengine's logs and metrics hold (HistoryBuffer arrays, metric scalars), as
# the type strings numpy pickles them by (``np.dtype('f8', False, True)``), without byte order.
_NUMPY_DTYPES = ('f8', 'f4', 'f2', 'i8', 'i4', 'i2', 'i1', 'u8', 'u4', 'u2', 'u1', 'b1')

# The statistics methods HistoryBuffer defines itself. A checkpoint pickles each one as
# ``getattr(HistoryBuffer, 'mean')`` (a method is not a module-level name).
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def _refuse(message: str):
    raise pickle.UnpicklingError(f'attnplug (weights_only checkpoint load): {message} '
                                 '(see attnplug.compat and docs/security.md)')


class _Inert:
    """Base of the stand-ins a checkpoint can name but never call or rebuild."""

    __slots__ = ()

    def __call__(self, *args, **kwargs):
        _refuse(f'{self!r} cannot be called')

    def __reduce__(self):
        # These exist only between the unpickler and SafeHistoryBuffer.__setstate__.
        raise pickle.PicklingError(f'{self!r} is a load-time placeholder and cannot be pickled')


class StatisticRef(_Inert):
    """What a checkpoint gets for a HistoryBuffer statistics method: the function is never
    handed to the unpickler (which could call it with crafted arguments), only this token,
    which :class:`SafeHistoryBuffer` checks against the methods registered in this process."""

    __slots__ = ('name', 'fn')

    def __init__(self, name: str, fn):
        self.name = name
        self.fn = fn

    def __eq__(self, other):
        return isinstance(other, StatisticRef) and (self.name, self.fn) == (other.name, other.fn)

    def __hash__(self):
        return hash((StatisticRef, self.name, self.fn))

    def __repr__(self):
        return f'<HistoryBuffer statistic {self.name!r}>'


class _NdarrayToken(_Inert):
    """``numpy.ndarray`` as a checkpoint names it: only an argument of ``_reconstruct``."""

    __slots__ = ()

    def __repr__(self):
        return '<numpy.ndarray (argument of _reconstruct only)>'


_NDARRAY = _NdarrayToken()


def history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside ``torch.load(weights_only=True)``.

    It resolves exactly ``getattr(HistoryBuffer, name)`` for HistoryBuffer's own statistics
    methods ``min``, ``max``, ``current`` and ``mean``, to an inert :class:`StatisticRef`,
    and refuses everything else. The set is fixed: nothing a checkpoint contains can widen it.
    """
    if (obj is SafeHistoryBuffer or obj is HistoryBuffer) \
            and isinstance(name, str) and name in _DEFAULT_STATISTICS:
        return StatisticRef(name, vars(HistoryBuffer)[name])
    _refuse(f'the checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer\'s '
            f'statistics methods {list(_DEFAULT_STATISTICS)} can be resolved')


class _DtypeSpec:
    """``numpy.dtype`` as a checkpoint names it (``dtype('f8', False, True)`` and a BUILD with
    its byte order). Only the plain numeric dtypes mmengine logs are accepted; the state is
    checked before numpy sees it, because ``dtype.__setstate__`` would otherwise turn a
    ``float64`` into a structured or object dtype."""

    __slots__ = ('code', 'byteorder')

    def __init__(self, obj=None, align=False, copy=True):
        if not (isinstance(obj, str) and obj in _NUMPY_DTYPES) or align not in (False, 0):
            _refuse(f'numpy dtype {obj!r} (align={align!r}) is not allowed; allowed: '
                    f'{list(_NUMPY_DTYPES)}')
        self.code = obj
        self.byteorder = '='

    def __setstate__(self, state):
        code = getattr(self, 'code', None)
        if code is None:
            _refuse('a numpy dtype was built without its type')
        # numpy's own state for a plain dtype, with the byte order free.
        if not (isinstance(state, tuple) and len(state) == 8 and state[1] in ('<', '>', '|', '=')
                and state[0] == 3 and state[2:] == (None, None, None, -1, -1, 0)):
            _refuse(f'numpy dtype {code!r}: state {state!r} is not that of a plain numeric dtype '
                    '(structured, sub-array and object dtypes are refused)')
        self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        code = getattr(self, 'code', None)
        if code is None:
            _refuse('a numpy dtype was built without its type')
        return np.dtype(code).newbyteorder(self.byteorder)

    def __repr__(self):
        return f'<numpy dtype {getattr(self, "code", None)!r}>'


def _as_dtype(spec) -> np.dtype:
    if not isinstance(spec, _DtypeSpec):
        _refuse(f'expected a numpy dtype, got {type(spec).__name__}')
    return spec.resolve()


class CheckedArray(np.ndarray):
    """The ndarray a weights-only load rebuilds: numpy's ``_reconstruct`` + ``__setstate__``,
    with the dtype and data checked first (plain numeric dtype, bytes data, consistent size).
    It pickles back as a plain ``numpy.ndarray``; :class:`SafeHistoryBuffer` stores plain
    ndarrays."""

    def __new__(cls, *args, **kwargs):
        # A checkpoint cannot construct one directly (``_reconstruct`` does not call this).
        _refuse('numpy arrays are rebuilt only through numpy.core.multiarray._reconstruct')

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            _refuse(f'ndarray state must be numpy\'s 5-tuple, got {type(state).__name__}')
        version, shape, spec, fortran, raw = state
        dtype = _as_dtype(spec)
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            _refuse(f'ndarray shape {shape!r} is not a tuple of sizes')
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * dtype.itemsize:
            _refuse(f'ndarray data of {dtype} x {shape} must be {count * dtype.itemsize} bytes')
        np.ndarray.__setstate__(self, (version, shape, dtype, bool(fortran), raw))

    def __reduce__(self):
        return np.asarray(self).view(np.ndarray).__reduce__()

    def __reduce_ex__(self, protocol):
        return np.asarray(self).view(np.ndarray).__reduce_ex__(protocol)


def _checked_reconstruct(cls, shape, code):
    """Stand-in for ``numpy.core.multiarray._reconstruct``: only numpy's own call,
    ``_reconstruct(ndarray, (0,), b'b')``, which the following BUILD fills in."""
    if cls is not _NDARRAY or shape != (0, ) or code not in (b'b', 'b'):
        _refuse(f'_reconstruct({cls!r}, {shape!r}, {code!r}) is not numpy\'s array pickle')
    return np.ndarray.__new__(CheckedArray, (0, ), dtype=np.uint8)


def _checked_scalar(spec, data=None):
    """Stand-in for ``numpy.core.multiarray.scalar`` (numpy scalars such as ``np.float64``)."""
    dtype = _as_dtype(spec)
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        _refuse(f'numpy scalar of {dtype} needs {dtype.itemsize} bytes of data')
    return np.frombuffer(bytes(data), dtype=dtype)[0]


class SafeHistoryBuffer(HistoryBuffer):
    """mmengine's ``HistoryBuffer`` as a weights-only load rebuilds it.

    mmengine's ``__setstate__`` writes the checkpoint's ``statistics_methods`` into the
    class-level dict every buffer of the process shares. This one never writes class
    state: it accepts exactly mmengine 0.10.7's instance state (``max_length``,
    ``_log_history``, ``_count_history``, ``statistics_methods``), with numeric 1-D
    histories of equal length, and statistics that are exactly the functions registered in
    this process under the same names. It then becomes a plain mmengine ``HistoryBuffer``
    (``__class__`` is reassigned), so it pickles, copies and compares as mmengine's.
    """

    def __init__(self, *args, **kwargs):
        # Only the unpickler's NEWOBJ + BUILD path creates one.
        _refuse('HistoryBuffer is rebuilt from its state only')

    def __setstate__(self, state):
        keys = {'max_length', '_log_history', '_count_history', 'statistics_methods'}
        if not isinstance(state, dict) or not set(state) <= keys \
                or not {'max_length', '_log_history', '_count_history'} <= set(state):
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            _refuse(f'HistoryBuffer state must have the keys {sorted(keys)}, got {found}')
        max_length = state['max_length']
        if type(max_length) is not int or max_length <= 0:
            _refuse(f'HistoryBuffer max_length must be a positive int, got {max_length!r}')
        histories = []
        for key in ('_log_history', '_count_history'):
            arr = state[key]
            if not isinstance(arr, CheckedArray) or arr.ndim != 1:
                _refuse(f'HistoryBuffer {key} must be a 1-D numeric numpy array, got '
                        f'{type(arr).__name__}')
            histories.append(np.array(arr.view(np.ndarray)))
        if len(histories[0]) != len(histories[1]):
            _refuse('HistoryBuffer _log_history and _count_history differ in length')
        registered = HistoryBuffer._statistics_methods
        own = vars(HistoryBuffer)
        for name, ref in (state.get('statistics_methods') or {}).items():
            if not isinstance(ref, StatisticRef):
                _refuse(f'HistoryBuffer statistic {name!r} is a {type(ref).__name__}, not '
                        'a registered statistics method')
            expected = registered.get(name, own.get(name) if name in _DEFAULT_STATISTICS
                                      else None)
            if ref.name != name or ref.fn is not expected:
                _refuse(f'HistoryBuffer statistic {name!r} points at {ref!r}; this process '
                        f'has {"no statistic of that name" if expected is None else expected}'
                        '. Register custom statistics (HistoryBuffer.register_statistics) '
                        'before loading, under the same name')
        self.__dict__.update(max_length=max_length, _log_history=histories[0],
                             _count_history=histories[1])
        # Keep mmengine's class, and its class-level statistics untouched.
        self.__class__ = HistoryBuffer


def _registered_custom_statistics() -> List[tuple]:
    """``(StatisticRef, 'module.name')`` for the statistics this process registered with
    ``HistoryBuffer.register_statistics`` that a checkpoint names as module-level functions."""
    entries = []
    for name, fn in HistoryBuffer._statistics_methods.items():
        if name in _DEFAULT_STATISTICS and fn is vars(HistoryBuffer).get(name):
            continue
        module, qualname = getattr(fn, '__module__', None), getattr(fn, '__qualname__', '')
        if module is None or '.' in qualname or '<' in qualname:
            continue  # not picklable by reference; no checkpoint can name it
        if getattr(sys.modules.get(module), qualname, None) is not fn:
            continue
        entries.append((StatisticRef(name, fn), f'{module}.{qualname}'))
    return entries


def mmengine_checkpoint_globals() -> List[object]:
    """What ``torch.load(weights_only=True)`` may resolve in an mmengine 0.10.7 checkpoint.

    Every entry is a ``(stand-in, 'qualified.name')`` pair for
    ``torch.serialization.add_safe_globals``: the names are those mmengine's checkpoints
    pickle (numpy 2's ``numpy._core`` and numpy 1's ``numpy.core``), the objects are
    attnplug's checked stand-ins, never the original callables. See docs/security.md.
    """
    entries: List[object] = [
        (SafeHistoryBuffer, HISTORY_BUFFER),
        (history_buffer_getattr, 'builtins.getattr'),
        (_DtypeSpec, 'numpy.dtype'),
        (_NDARRAY, 'numpy.ndarray'),
        # BUILD is allowed only on allowlisted types: the array rebuilt by _reconstruct.
        (CheckedArray, f'{__name__}.CheckedArray'),
    ]
    for core in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries.append((_checked_reconstruct, f'{core}._reconstruct'))
        entries.append((_checked_scalar, f'{core}.scalar'))
    entries.extend(_registered_custom_statistics())
    return entries


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints (idempotent).

    Runs on ``import attnplug``. Statistics registered with ``HistoryBuffer.register_statistics``
    after that are picked up by calling it again.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4: weights_only is off by default there
        return
    if not all(name in HistoryBuffer._statistics_methods for name in _DEFAULT_STATISTICS):
        # The setdefault of mmengine's defaults that every HistoryBuffer() does, done once here
        # so that a loaded buffer has its statistics even in a process that never built one,
        # and loading itself never writes class state.
        HistoryBuffer()
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
