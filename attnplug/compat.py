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
``weights_only`` off. Each allowlisted name resolves to a checked stand-in, never to
the original callable, and the stand-ins are safe *together with* every function
torch allowlists by default (its ``_rebuild_*`` functions included):

* no numpy array exists while a file is being unpickled. ``_reconstruct`` yields a
  :class:`PendingArray`, an inert record that torch's rebuild functions cannot use
  (``torch.from_numpy`` refuses it) and that accepts exactly one BUILD, whose data it
  copies and validates. Only :class:`SafeHistoryBuffer` turns it into an array, a fresh
  copy that it owns;
* every stand-in object is final once built: a second BUILD, or a ``__setstate__``
  reached through ``torch._tensor._rebuild_from_type_v2``, is refused;
* a ``HistoryBuffer`` made by NEWOBJ is a complete, empty buffer before its BUILD, so a
  file that omits the BUILD yields an ordinary empty buffer, never a half-made object;
* refusal messages format the file's structures through a size-capped repr.

The threat model, the list of every reachable callable and why each is safe in
combination, and the tests and fuzzer that attack the loader: docs/security.md.

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
import copyreg
import math
import pickle
import sys
from typing import Dict, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['mmengine_checkpoint_globals', 'allow_mmengine_checkpoints', 'SafeHistoryBuffer',
           'PendingArray', 'cpu_distributed_overrides', 'enable_cpu_distributed']

HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'

# The numpy dtypes mmengine's logs and metrics hold (HistoryBuffer arrays, metric scalars), as
# the type strings numpy pickles them by (``np.dtype('f8', False, True)``), without byte order.
_NUMPY_DTYPES = ('f8', 'f4', 'f2', 'i8', 'i4', 'i2', 'i1', 'u8', 'u4', 'u2', 'u1', 'b1')

# The statistics methods HistoryBuffer defines itself. A checkpoint pickles each one as
# ``getattr(HistoryBuffer, 'mean')`` (a method is not a module-level name).
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')

# mmengine's HistoryBuffer() default, which the empty buffer a NEWOBJ makes carries.
_DEFAULT_MAX_LENGTH = 1000000

# numpy refuses more dimensions than this; a file's shape is checked before any allocation.
_MAX_NDIM = 32


def _short(obj, budget: int = 24) -> str:
    """A repr of ``obj`` from the file, capped: at most ``budget`` nodes, 3 levels and 60
    characters per leaf, whatever the structure (nested shared tuples grow exponentially
    under the builtin ``repr``). Unknown objects show only their type."""
    left = [budget]

    def walk(o, depth):
        left[0] -= 1
        if left[0] < 0:
            return '...'
        if o is None or isinstance(o, (bool, int, float, complex)):
            text = repr(o) if not isinstance(o, int) or o.bit_length() < 200 else '<big int>'
            return text[:60]
        if isinstance(o, (str, bytes, bytearray)):
            text = repr(o[:40])
            return text + ('...' if len(o) > 40 else '')
        if isinstance(o, (tuple, list, set, frozenset, dict)):
            if depth >= 3:
                return f'<{type(o).__name__} of {len(o)}>'
            items = list(o.items()) if isinstance(o, dict) else list(o)
            parts = []
            for item in items[:6]:
                if left[0] <= 0:
                    break
                parts.append(f'{walk(item[0], depth + 1)}: {walk(item[1], depth + 1)}'
                             if isinstance(o, dict) else walk(item, depth + 1))
            if len(parts) < len(items):
                parts.append(f'... ({len(items)} items)')
            opening, closing = {tuple: '()', list: '[]'}.get(type(o), '{}')
            prefix = '' if type(o) in (tuple, list, dict) else type(o).__name__
            return f'{prefix}{opening}{", ".join(parts)}{closing}'
        if isinstance(o, (_Inert, _DtypeSpec, PendingArray)):
            return repr(o)
        return f'<{type(o).__module__}.{type(o).__qualname__}>'

    return walk(obj, 0)


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
            and type(name) is str and name in _DEFAULT_STATISTICS:
        return StatisticRef(name, vars(HistoryBuffer)[name])
    _refuse(f'the checkpoint asks for getattr({_short(obj)}, {_short(name)}); only '
            f'HistoryBuffer\'s statistics methods {list(_DEFAULT_STATISTICS)} can be resolved')


class _DtypeSpec:
    """``numpy.dtype`` as a checkpoint names it (``dtype('f8', False, True)`` and a BUILD with
    its byte order). Only the plain numeric dtypes mmengine logs are accepted; the state is
    checked before numpy sees it, because ``dtype.__setstate__`` would otherwise turn a
    ``float64`` into a structured or object dtype. It is complete when made (``__new__``
    checks the type; NEWOBJ cannot make an empty one) and takes at most one BUILD."""

    __slots__ = ('code', 'byteorder', 'built')

    def __new__(cls, obj=None, align=False, copy=True):
        if not (type(obj) is str and obj in _NUMPY_DTYPES) or align not in (False, 0):
            _refuse(f'numpy dtype {_short(obj)} (align={_short(align)}) is not allowed; '
                    f'allowed: {list(_NUMPY_DTYPES)}')
        self = object.__new__(cls)
        self.code, self.byteorder, self.built = obj, '=', False
        return self

    def __setstate__(self, state):
        if self.built:
            _refuse(f'{self!r} was already built; a second BUILD is refused')
        # numpy's own state for a plain dtype, with the byte order free.
        if not (type(state) is tuple and len(state) == 8 and state[0] == 3
                and state[1] in ('<', '>', '|', '=')
                and state[2:] == (None, None, None, -1, -1, 0)):
            _refuse(f'numpy dtype {self.code!r}: state {_short(state)} is not that of a plain '
                    'numeric dtype (structured, sub-array and object dtypes are refused)')
        self.byteorder, self.built = state[1], True

    def resolve(self) -> np.dtype:
        return np.dtype(self.code).newbyteorder(self.byteorder)

    def __repr__(self):
        return f'<numpy dtype {self.code!r} (load-time spec)>'


def _as_dtype(spec) -> np.dtype:
    if type(spec) is not _DtypeSpec:
        _refuse(f'expected a numpy dtype, got {_short(spec)}')
    return spec.resolve()


class PendingArray:
    """A numpy array as a weights-only load holds it: an inert record, never an ndarray.

    numpy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` followed by a BUILD with
    ``(version, shape, dtype, fortran, data)``. Filling a real ndarray in place is what made
    it unsafe: torch's default allowlist contains ``_rebuild_device_tensor_from_numpy``, which
    makes a tensor over an array's buffer without copying, and a second BUILD of the same
    memoised array frees that buffer under the tensor. This record is not an ndarray (torch's
    rebuild functions refuse it), takes exactly one BUILD, checks the dtype, the shape, the
    data length and that boolean data is 0 or 1, and keeps its own copy of the data, never a
    view of the file's bytes. :class:`SafeHistoryBuffer` takes a fresh copy of it with
    :meth:`to_numpy`. A record a file places anywhere else reaches the caller as this inert
    object (mmengine keeps arrays only in HistoryBuffers); ``to_numpy()`` gives a fresh copy.
    """

    __slots__ = ('_array', )

    def __new__(cls, *args, **kwargs):
        # Calling the class or NEWOBJ on it: only _reconstruct makes one.
        _refuse('numpy arrays are rebuilt only through numpy.core.multiarray._reconstruct')

    @classmethod
    def _empty(cls) -> 'PendingArray':
        self = object.__new__(cls)
        self._array = None
        return self

    def __setstate__(self, state):
        if self._array is not None:
            _refuse(f'{self!r} was already built; a second BUILD is refused')
        if not (type(state) is tuple and len(state) == 5):
            _refuse(f'ndarray state must be numpy\'s 5-tuple, got {_short(state)}')
        version, shape, spec, fortran, raw = state
        dtype = _as_dtype(spec)
        if not (type(version) is int and type(fortran) is bool):
            _refuse(f'ndarray state: version {_short(version)} / fortran flag '
                    f'{_short(fortran)} are not an int and a bool')
        if not (type(shape) is tuple and len(shape) <= _MAX_NDIM
                and all(type(n) is int and n >= 0 for n in shape)):
            _refuse(f'ndarray shape {_short(shape)} is not a tuple of at most {_MAX_NDIM} sizes')
        nbytes = math.prod(shape) * dtype.itemsize  # exact: Python ints do not overflow
        if type(raw) not in (bytes, bytearray) or len(raw) != nbytes:
            _refuse(f'ndarray data of {dtype} x {shape} must be {nbytes} bytes, got '
                    f'{_short(raw) if type(raw) not in (bytes, bytearray) else len(raw)}')
        if dtype.kind == 'b' and raw.translate(None, b'\x00\x01'):
            _refuse('boolean ndarray data holds bytes other than 0 and 1')
        array = np.frombuffer(raw, dtype=dtype).reshape(shape, order='F' if fortran else 'C')
        self._array = array.copy(order='K')  # owns its memory; the file's bytes stay immutable

    def to_numpy(self) -> np.ndarray:
        """A fresh copy of the array (it owns its memory and aliases nothing)."""
        if self._array is None:
            _refuse('a numpy array was created but never built')
        return self._array.copy(order='K')

    def __reduce__(self):
        raise pickle.PicklingError(f'{self!r} is a load-time record; pickle to_numpy() instead')

    def __repr__(self):
        if self._array is None:
            return '<numpy array (load-time record, not built)>'
        return f'<numpy array {self._array.dtype} {self._array.shape} (load-time record)>'


def _checked_reconstruct(cls, shape, code):
    """Stand-in for ``numpy.core.multiarray._reconstruct``: only numpy's own call,
    ``_reconstruct(ndarray, (0,), b'b')``; gives an empty :class:`PendingArray` that the
    following BUILD fills in."""
    if cls is not _NDARRAY or type(shape) is not tuple or shape != (0, ) \
            or code not in (b'b', 'b'):
        _refuse(f'_reconstruct({_short(cls)}, {_short(shape)}, {_short(code)}) is not '
                'numpy\'s array pickle')
    return PendingArray._empty()


def _checked_scalar(spec, data=None):
    """Stand-in for ``numpy.core.multiarray.scalar`` (numpy scalars such as ``np.float64``).
    A numpy scalar is immutable and holds its own copy of the value."""
    dtype = _as_dtype(spec)
    if type(data) not in (bytes, bytearray) or len(data) != dtype.itemsize:
        _refuse(f'numpy scalar of {dtype} needs {dtype.itemsize} bytes of data')
    if dtype.kind == 'b' and data not in (b'\x00', b'\x01'):
        _refuse('a numpy bool scalar holds a byte other than 0 and 1')
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _empty_bytes(*args):
    """Stand-in for ``builtins.bytes``: protocol 2 pickles ``b''`` (the data of an empty array)
    as ``bytes()``. Only that call; ``bytes(n)`` or ``bytes(iterable)`` is refused."""
    if args:
        _refuse(f'bytes({_short(args)[1:-1]}): only bytes() (an empty bytes object) is allowed')
    return b''


def _history(arr, key: str) -> np.ndarray:
    if type(arr) is not PendingArray:
        _refuse(f'HistoryBuffer {key} must be a numeric numpy array, got {_short(arr)}')
    array = arr.to_numpy()
    if array.ndim != 1 or array.dtype.kind not in 'fiub':
        _refuse(f'HistoryBuffer {key} must be a 1-D numeric numpy array, got '
                f'{array.dtype} x {array.shape}')
    return array


class SafeHistoryBuffer(HistoryBuffer):
    """mmengine's ``HistoryBuffer`` as a weights-only load rebuilds it.

    mmengine's ``__setstate__`` writes the checkpoint's ``statistics_methods`` into the
    class-level dict every buffer of the process shares. This one never writes class
    state. NEWOBJ (or a call without arguments) gives a complete, empty buffer, as
    ``HistoryBuffer()`` would be. The one BUILD then accepts exactly mmengine 0.10.7's
    instance state (``max_length``, ``_log_history``, ``_count_history``,
    ``statistics_methods``), with numeric 1-D histories of equal length, each a fresh copy the
    buffer owns, and statistics that are exactly the functions registered in this process
    under the same names. The built buffer becomes a plain mmengine ``HistoryBuffer``
    (``__class__`` is reassigned), which torch refuses to BUILD again. An unbuilt one pickles
    and copies as mmengine's class too.
    """

    def __new__(cls, *args, **kwargs):
        # NEWOBJ, or a call with no arguments (how an unbuilt one pickles): an empty buffer.
        if args or kwargs:
            _refuse('HistoryBuffer is rebuilt from its state only (no arguments)')
        self = object.__new__(cls)
        vars(self).update(max_length=_DEFAULT_MAX_LENGTH, _log_history=np.array([]),
                          _count_history=np.array([]))
        return self

    def __init__(self):
        pass  # __new__ made it complete

    def __setstate__(self, state):
        keys = {'max_length', '_log_history', '_count_history', 'statistics_methods'}
        if type(state) is not dict or not set(state) <= keys \
                or not {'max_length', '_log_history', '_count_history'} <= set(state):
            _refuse(f'HistoryBuffer state must have the keys {sorted(keys)}, got '
                    f'{_short(list(state) if type(state) is dict else state)}')
        max_length = state['max_length']
        if type(max_length) is not int or max_length <= 0:
            _refuse(f'HistoryBuffer max_length must be a positive int, got {_short(max_length)}')
        log = _history(state['_log_history'], '_log_history')
        count = _history(state['_count_history'], '_count_history')
        if len(log) != len(count):
            _refuse('HistoryBuffer _log_history and _count_history differ in length')
        registered = HistoryBuffer._statistics_methods
        own = vars(HistoryBuffer)
        statistics = state.get('statistics_methods') or {}
        if type(statistics) is not dict:
            _refuse(f'HistoryBuffer statistics_methods must be a dict, got {_short(statistics)}')
        for name, ref in statistics.items():
            if type(ref) is not StatisticRef:
                _refuse(f'HistoryBuffer statistic {_short(name)} is {_short(ref)}, not a '
                        'registered statistics method')
            expected = registered.get(name, own.get(name) if name in _DEFAULT_STATISTICS
                                      else None)
            if ref.name != name or ref.fn is not expected:
                _refuse(f'HistoryBuffer statistic {_short(name)} points at {ref!r}; this '
                        f'process has {"no statistic of that name" if expected is None else expected}'
                        '. Register custom statistics (HistoryBuffer.register_statistics) '
                        'before loading, under the same name')
        vars(self).update(max_length=max_length, _log_history=log, _count_history=count)
        # Keep mmengine's class, and its class-level statistics untouched.
        self.__class__ = HistoryBuffer

    def __reduce_ex__(self, protocol):
        # An unbuilt buffer (NEWOBJ without BUILD) pickles and copies as mmengine's class:
        # ``HistoryBuffer()`` and a BUILD, which a weights-only load reads back through this
        # class. (NEWOBJ's reduction would need the object to be of that class already.)
        return HistoryBuffer, (), dict(vars(self),
                                       statistics_methods=HistoryBuffer._statistics_methods)


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
        (_empty_bytes, 'builtins.bytes'),
        (_DtypeSpec, 'numpy.dtype'),
        (_NDARRAY, 'numpy.ndarray'),
        # torch allows BUILD only on allowlisted types: the record _reconstruct makes.
        (PendingArray, f'{__name__}.PendingArray'),
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
