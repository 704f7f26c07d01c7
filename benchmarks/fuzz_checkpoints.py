"""Fuzz the weights-only checkpoint loader: attnplug's stand-ins together with torch's own
allowlist, attacked by random pickle programs.

Each program is a ``data.pkl`` written opcode by opcode, with only the opcodes torch's
weights-only unpickler accepts (memo get/put, BUILD, REDUCE, NEWOBJ, SETITEMS, APPEND(S),
tuples, persistent ids) over every global the loader can reach: the names
:func:`attnplug.compat.mmengine_checkpoint_globals` allowlists and the functions and classes
torch allowlists by default (its ``_rebuild_*`` functions included). The programs are biased
towards the chains that matter: memoised objects used again as arguments and BUILT again,
arrays and tensors passed to each other's rebuild functions. Each one is packed in torch's
zip container and loaded with ``torch.load`` (weights-only, as mmengine calls it). Then:

* a load either raises, within a time bound and with a bounded message, or returns objects
  that own their memory: no numpy array outside a HistoryBuffer, every array owns its data,
  no two arrays and no array and tensor share memory, every HistoryBuffer is complete and
  usable (update, deepcopy, pickle);
* mmengine's, numpy's, torch's and attnplug's process state is the same after every load.

The test suite runs a few seconds of it (``tests/test_compat_fuzz.py``); the long mode is
for manual runs and writes its record for docs/security.md::

    python benchmarks/fuzz_checkpoints.py --programs 200000 --seed 0 \\
        --out docs/benchmarks/security_fuzz
"""
import argparse
import copy
import functools
import io
import json
import pickle
import pickletools
import platform
import random
import struct
import sys
import time
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

# ----------------------------------------------------------------------------- opcode writers
# Protocol-2 opcodes torch's weights-only unpickler implements (torch/_weights_only_unpickler.py).
MARK, STOP, TUPLE, EMPTY_TUPLE, TUPLE1, TUPLE2, TUPLE3 = b'(', b'.', b't', b')', b'\x85', \
    b'\x86', b'\x87'
EMPTY_LIST, APPEND, APPENDS, EMPTY_DICT, SETITEM, SETITEMS = b']', b'a', b'e', b'}', b's', b'u'
REDUCE, NEWOBJ, BUILD, BINPERSID, NONE, TRUE, FALSE = b'R', b'\x81', b'b', b'Q', b'N', \
    b'\x88', b'\x89'


def op_global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def op_str(text: str) -> bytes:
    raw = text.encode()
    return b'X' + struct.pack('<I', len(raw)) + raw


def op_int(n: int) -> bytes:
    return b'J' + struct.pack('<i', n)


def op_float(x: float) -> bytes:
    return b'G' + struct.pack('>d', x)


def op_bytes(raw: bytes) -> bytes:
    """``bytes`` as protocol 2 writes them: ``_codecs.encode(str, 'latin1')``."""
    return op_call(op_global('_codecs', 'encode'), op_str(raw.decode('latin1')), op_str('latin1'))


def op_tuple(*items: bytes) -> bytes:
    if len(items) == 0:
        return EMPTY_TUPLE
    if len(items) <= 3:
        return b''.join(items) + (TUPLE1, TUPLE2, TUPLE3)[len(items) - 1]
    return MARK + b''.join(items) + TUPLE


def op_dict(items: Dict[str, bytes]) -> bytes:
    return EMPTY_DICT + MARK + b''.join(op_str(k) + v for k, v in items.items()) + SETITEMS


def op_call(func: bytes, *args: bytes) -> bytes:
    return func + op_tuple(*args) + REDUCE


def op_put(index: int) -> bytes:
    return b'r' + struct.pack('<I', index)  # LONG_BINPUT


def op_get(index: int) -> bytes:
    return b'j' + struct.pack('<I', index)  # LONG_BINGET


FRAGMENT_MEMO = 1 << 20  # fragments memoise above this index, programs below it


@functools.lru_cache(maxsize=None)
def _fragment_of_pickle(raw: bytes) -> bytes:
    out = []
    for opcode, arg, pos in pickletools.genops(raw):
        if opcode.name in ('PROTO', 'STOP'):
            continue
        if opcode.name in ('BINPUT', 'LONG_BINPUT', 'PUT'):
            out.append(op_put(FRAGMENT_MEMO + arg))
        elif opcode.name in ('BINGET', 'LONG_BINGET', 'GET'):
            out.append(op_get(FRAGMENT_MEMO + arg))
        else:
            out.append(_raw_op(raw, pos))
    return b''.join(out)


def fragment(obj) -> bytes:
    """``obj`` as pickle protocol 2 writes it, without PROTO and STOP, its memo indices moved
    above :data:`FRAGMENT_MEMO` so that they never overwrite a program's own."""
    return _fragment_of_pickle(pickle.dumps(obj, protocol=2))


def _raw_op(raw: bytes, pos: int) -> bytes:
    """The bytes of the one opcode (with its argument) that starts at ``pos`` in ``raw``."""
    ops = pickletools.genops(raw[pos:])
    next(ops)
    following = next(ops, None)
    return raw[pos:pos + following[2]] if following else raw[pos:]


def storage_pid(key: str = '0', numel: int = 16) -> bytes:
    """A persistent id for the one float storage every fuzzed file carries (``data/0``)."""
    return op_tuple(op_str('storage'), op_global('torch', 'FloatStorage'), op_str(key),
                    op_str('cpu'), op_int(numel)) + BINPERSID


def checkpoint_bytes(body: bytes, storage: bytes = bytes(64)) -> bytes:
    """A checkpoint ``torch.load`` reads: torch's zip container with ``body`` as data.pkl."""
    data = b'\x80\x02' + body + STOP
    buf = io.BytesIO()
    with torch.serialization._open_zipfile_writer(buf) as writer:
        for name, record in (('data.pkl', data), ('byteorder', b'little'),
                             ('data/0', storage), ('version', b'3\n')):
            writer.write_record(name, record, len(record))
    return buf.getvalue()


# ----------------------------------------------------------------------------- the globals
HISTORY_BUFFER = ('mmengine.logging.history_buffer', 'HistoryBuffer')


def reachable_globals() -> List[str]:
    """Every name a file can resolve: torch's default allowlist and the user allowlist (which
    holds attnplug's stand-ins once :mod:`attnplug` is imported)."""
    from torch import _weights_only_unpickler as wou
    return sorted(set(wou._get_allowed_globals()) | set(wou._get_user_allowed_globals()))


def _split(name: str):
    module, _, attr = name.rpartition('.')
    return module, attr


# ----------------------------------------------------------------------------- generation
_STRINGS = ('f8', 'f4', 'b1', 'u1', 'i8', 'O', 'V8', '<', '>', '|', '=', 'cpu', 'meta', 'mean',
            'max', 'min', 'current', '__subclasses__', '__class__', 'real', 'data', 'grad',
            '_log_history', '_count_history', 'max_length', 'statistics_methods', 'latin1',
            'storage', 'torch.strided', 'b', '')
# Sizes stay small: plain torch's own allowlist already lets a few bytes allocate any amount
# (``bytearray(2**31 - 1)``, ``UntypedStorage(n)``), a limit of torch's that docs/security.md
# states; the time bound below is for what attnplug's stand-ins add.
_INTS = (0, 1, 2, 3, 4, 8, 16, -1, 1000, 65535)
_BYTES = (b'', b'b', b'\x05\xff', bytes(8), bytes(range(16)), bytes(32), b'\x01' * 4)


@dataclass
class _Gen:
    rng: random.Random
    names: List[str]
    memo: int = 0
    out: List[bytes] = field(default_factory=list)

    # A value: an atom, a memo reference, or a compound that leaves one object on the stack.
    def value(self, depth: int = 0) -> bytes:
        r = self.rng.random()
        if self.memo and r < 0.3:
            return op_get(self.rng.randrange(self.memo))
        if depth < 3 and r < 0.65:
            return self.compound(depth + 1)
        return self.atom()

    def atom(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(10)
        if kind == 0:
            return op_global(*_split(rng.choice(self.names)))
        if kind == 1:
            return op_int(rng.choice(_INTS))
        if kind == 2:
            return op_str(rng.choice(_STRINGS))
        if kind == 3:
            return op_bytes(rng.choice(_BYTES))
        if kind == 4:
            return rng.choice((NONE, TRUE, FALSE, EMPTY_TUPLE, op_float(0.5)))
        if kind == 5:
            return storage_pid(numel=rng.choice((16, 4, 0)))
        if kind == 6:
            return op_global(*HISTORY_BUFFER)
        if kind == 7:
            return rng.choice(self._templates())
        return op_tuple(*[self.atom() for _ in range(rng.randrange(4))])

    def _templates(self):
        """Fragments of what real checkpoints hold, as material for chains."""
        return (fragment(np.array([1.0, 2.0, 6.0])), fragment(np.array([1, 1, 1])),
                fragment(np.dtype('f8')), fragment(np.float64(0.75)),
                fragment(np.array([True, False])),
                op_call(op_global('numpy._core.multiarray', '_reconstruct'),
                        op_global('numpy', 'ndarray'), op_tuple(op_int(0)), op_bytes(b'b')),
                op_call(op_global('numpy', 'dtype'), op_str(self.rng.choice(('f8', 'b1', 'u1'))),
                        FALSE, TRUE),
                op_call(op_global('builtins', 'getattr'), op_global(*HISTORY_BUFFER),
                        op_str(self.rng.choice(('mean', 'max', '__subclasses__')))))

    def state(self, depth: int) -> bytes:
        """A BUILD state: plausible (numpy's array or dtype state, a buffer's dict) or not."""
        rng = self.rng
        kind = rng.randrange(6)
        if kind == 0:  # numpy ndarray state
            n = rng.choice((0, 1, 3, 4, 100, 300))  # numpy copies small data, views large
            code = rng.choice(('f8', 'b1', 'u1'))
            size = np.dtype(code).itemsize
            dtype = fragment(np.dtype(code)) if rng.random() < 0.8 else self.value(depth)
            return op_tuple(op_int(1), op_tuple(op_int(n)), dtype, rng.choice((FALSE, TRUE)),
                            op_bytes(bytes(rng.randrange(256) for _ in range(n * size))
                                     if rng.random() < 0.8 else rng.choice(_BYTES)))
        if kind == 1:  # numpy dtype state
            return op_tuple(op_int(3), op_str(rng.choice('<>|=')), NONE, NONE, NONE,
                            op_int(-1), op_int(-1), op_int(0))
        if kind == 2:  # a HistoryBuffer's __dict__
            items = {'max_length': op_int(rng.choice((10, 1000000, 0))),
                     '_log_history': self.value(depth), '_count_history': self.value(depth)}
            if rng.random() < 0.5:
                items['statistics_methods'] = op_dict({n: self.value(depth) for n in
                                                      rng.sample(('mean', 'max', 'min'), 2)})
            return op_dict(items)
        if kind == 3:
            return op_dict({rng.choice(_STRINGS): self.value(depth)
                            for _ in range(rng.randrange(3))})
        if kind == 4:
            return op_tuple(op_dict({rng.choice(_STRINGS): self.value(depth)}),
                            op_dict({rng.choice(_STRINGS): self.value(depth)}))
        return self.value(depth)

    def signature_call(self, depth: int) -> bytes:
        """A call of a reachable function with arguments of the kinds it expects, so that the
        chains between attnplug's objects and torch's rebuild functions are reached often."""
        rng = self.rng
        dtype = op_global('torch', rng.choice(('float64', 'float32', 'bool', 'uint8')))
        empty_hooks = op_call(op_global('collections', 'OrderedDict'))
        signatures = [
            lambda: op_call(op_global('torch._utils', '_rebuild_device_tensor_from_numpy'),
                            self.value(depth), dtype, op_str('cpu'), FALSE),
            lambda: op_call(op_global('torch._utils', '_rebuild_device_tensor_from_cpu_tensor'),
                            self.value(depth), dtype, op_str('cpu'), FALSE),
            lambda: op_call(op_global('torch._utils', '_rebuild_tensor_v2'), storage_pid(),
                            op_int(0), op_tuple(op_int(4)), op_tuple(op_int(1)), FALSE,
                            empty_hooks),
            lambda: op_call(op_global('torch._utils', '_rebuild_parameter'), self.value(depth),
                            FALSE, empty_hooks),
            lambda: op_call(op_global('torch._tensor', '_rebuild_from_type_v2'),
                            op_global(*_split(rng.choice(self.names))),
                            op_global(*_split(rng.choice(self.names))),
                            op_tuple(*[self.value(depth) for _ in range(rng.randrange(4))]),
                            self.state(depth)),
            lambda: op_call(op_global('numpy._core.multiarray', '_reconstruct'),
                            op_global('numpy', 'ndarray'), op_tuple(op_int(0)), op_bytes(b'b')),
            lambda: op_call(op_global('numpy._core.multiarray', 'scalar'),
                            fragment(np.dtype(rng.choice(('f8', 'b1')))),
                            op_bytes(rng.choice(_BYTES))),
        ]
        return rng.choice(signatures)()

    def compound(self, depth: int) -> bytes:
        rng = self.rng
        kind = rng.randrange(10)
        if kind >= 8:
            body = self.signature_call(depth)
        elif kind <= 2:  # REDUCE
            func = op_global(*_split(rng.choice(self.names))) if rng.random() < 0.85 \
                else self.value(depth)
            body = func + op_tuple(*[self.value(depth) for _ in range(rng.randrange(5))]) + REDUCE
        elif kind == 3:  # NEWOBJ
            cls = op_global(*_split(rng.choice(self.names))) if rng.random() < 0.7 \
                else op_global(*HISTORY_BUFFER)
            body = cls + op_tuple(*[self.value(depth) for _ in range(rng.randrange(3))]) + NEWOBJ
        elif kind == 4:  # BUILD of something, often a memoised object again
            target = op_get(rng.randrange(self.memo)) if self.memo and rng.random() < 0.6 \
                else self.value(depth)
            body = target + self.state(depth) + BUILD
        elif kind == 5:  # a dict with SETITEMS
            body = EMPTY_DICT + MARK + b''.join(self.value(depth) + self.value(depth)
                                                for _ in range(rng.randrange(3))) + SETITEMS
        elif kind == 6:  # a list with APPEND / APPENDS
            body = EMPTY_LIST + (self.value(depth) + APPEND if rng.random() < 0.5 else
                                 MARK + self.value(depth) + self.value(depth) + APPENDS)
        else:
            body = op_tuple(*[self.value(depth) for _ in range(rng.randrange(1, 4))])
        if rng.random() < 0.6:
            body += op_put(self.memo)
            self.memo += 1
        return body


def _plausible(gen: _Gen, mutate: float) -> bytes:
    """A chain of steps that each load on their own (arrays built, buffers made, tensors over
    storages and arrays, BUILDs of memoised objects again, ``_rebuild_from_type_v2``), every
    step's arguments swapped for a random value with probability ``mutate``. These reach the
    combinations a random program rarely survives to: the use-after-free was one."""
    rng = gen.rng
    arrays: List[int] = []
    tensors: List[int] = []
    items = []

    def arg(expected: bytes) -> bytes:
        return gen.value(2) if rng.random() < mutate else expected

    def memo(body: bytes, into: Optional[List[int]] = None) -> bytes:
        index = gen.memo
        gen.memo += 1
        if into is not None:
            into.append(index)
        return body + op_put(index)

    def array_state() -> bytes:
        code = rng.choice(('f8', 'u1', 'b1', 'i8'))
        n = rng.choice((0, 3, 300))
        size = np.dtype(code).itemsize
        data = bytes(rng.randrange(2) for _ in range(n * size)) if code == 'b1' and \
            rng.random() < 0.7 else bytes(rng.randrange(256) for _ in range(n * size))
        return op_tuple(op_int(1), op_tuple(op_int(n)), arg(fragment(np.dtype(code))),
                        rng.choice((FALSE, TRUE)), arg(op_bytes(data)))

    def some(pool: List[int]) -> bytes:
        return op_get(rng.choice(pool)) if pool else gen.value(2)

    reconstruct = op_call(op_global('numpy._core.multiarray', '_reconstruct'),
                          arg(op_global('numpy', 'ndarray')), op_tuple(op_int(0)),
                          op_bytes(b'b'))
    hooks = op_call(op_global('collections', 'OrderedDict'))
    dtype = op_global('torch', rng.choice(('float64', 'float32', 'bool', 'uint8')))
    steps = {
        'array': lambda: memo(reconstruct + array_state() + BUILD, arrays),
        'unbuilt array': lambda: memo(reconstruct, arrays),
        'build again': lambda: some(arrays) + arg(array_state()) + BUILD,
        'from numpy': lambda: memo(op_call(
            op_global('torch._utils', '_rebuild_device_tensor_from_numpy'), some(arrays),
            arg(dtype), op_str('cpu'), FALSE), tensors),
        'from cpu tensor': lambda: memo(op_call(
            op_global('torch._utils', '_rebuild_device_tensor_from_cpu_tensor'),
            some(tensors + arrays), arg(dtype), op_str('cpu'), FALSE), tensors),
        'storage tensor': lambda: memo(op_call(
            op_global('torch._utils', '_rebuild_tensor_v2'), storage_pid(), op_int(0),
            op_tuple(op_int(4)), op_tuple(op_int(1)), FALSE, hooks), tensors),
        'parameter': lambda: memo(op_call(op_global('torch._utils', '_rebuild_parameter'),
                                          some(tensors), FALSE, hooks), tensors),
        'setstate via type_v2': lambda: memo(op_call(
            op_global('torch._tensor', '_rebuild_from_type_v2'),
            arg(op_global('numpy._core.multiarray', '_reconstruct')),
            arg(op_global('attnplug.compat', 'PendingArray')),
            op_tuple(op_global('numpy', 'ndarray'), op_tuple(op_int(0)), op_bytes(b'b')),
            array_state()), arrays),
        'attributes via type_v2': lambda: op_call(
            op_global('torch._tensor', '_rebuild_from_type_v2'),
            op_global('torch._utils', '_rebuild_parameter'), op_global('torch', 'Tensor'),
            op_tuple(some(tensors), FALSE, hooks),
            op_dict({rng.choice(('real', 'data', 'grad', 'x')): some(tensors + arrays)})),
        'buffer': lambda: HB_NEWOBJ + (b'' if rng.random() < 0.2 else op_dict(
            {'max_length': arg(op_int(rng.choice((10, 1000000)))),
             '_log_history': some(arrays), '_count_history': some(arrays),
             'statistics_methods': op_dict({'mean': arg(op_call(
                 op_global('builtins', 'getattr'), op_global(*HISTORY_BUFFER), op_str('mean')))})}
        ) + BUILD),
        'scalar': lambda: op_call(op_global('numpy._core.multiarray', 'scalar'),
                                  arg(fragment(np.dtype(rng.choice(('f8', 'b1'))))),
                                  arg(op_bytes(rng.choice((bytes(8), b'\x01', b'\x05'))))),
    }
    needs = {'build again': arrays, 'from numpy': arrays, 'buffer': arrays,
             'parameter': tensors, 'attributes via type_v2': tensors}
    names = list(steps)
    for _ in range(rng.randint(1, 6)):
        name = rng.choice(names)
        if name in needs and not needs[name]:  # make what it uses first
            name = 'array' if needs[name] is arrays else 'storage tensor'
        items.append(steps[name]())
    return EMPTY_LIST + MARK + b''.join(items) + APPENDS


HB_NEWOBJ = op_global(*HISTORY_BUFFER) + EMPTY_TUPLE + NEWOBJ


def generate(rng: random.Random, names: List[str]) -> bytes:
    """One program: half of them random values and compounds (``EMPTY_LIST MARK ... APPENDS``
    of 1-8 values), half plausible chains with a few arguments mutated."""
    gen = _Gen(rng, names)
    if rng.random() < 0.5:
        return _plausible(gen, mutate=rng.choice((0.0, 0.05, 0.2)))
    items = [gen.value() for _ in range(rng.randint(1, 8))]
    return EMPTY_LIST + MARK + b''.join(items) + APPENDS


# ----------------------------------------------------------------------------- checks
def process_state() -> tuple:
    """What no load may change: mmengine's HistoryBuffer class state, numpy's error and
    print settings, torch's global modes, attnplug's allowlist entries and attnplug.compat's
    namespace."""
    from mmengine.logging.history_buffer import HistoryBuffer

    import attnplug.compat as compat
    return (tuple((k, id(v)) for k, v in HistoryBuffer._statistics_methods.items()),
            tuple((k, id(v)) for k, v in vars(HistoryBuffer).items()),
            tuple(sorted(np.geterr().items())), repr(np.get_printoptions()),
            torch.get_default_dtype(), torch.is_grad_enabled(),
            torch.are_deterministic_algorithms_enabled(),
            # attnplug's entries; torch adds its own when a file makes it import torch.nested
            tuple(sorted(repr(e) for e in torch.serialization.get_safe_globals()
                         if isinstance(e, tuple) and getattr(e[0], '__module__', None)
                         == compat.__name__)),
            tuple((k, id(v)) for k, v in vars(compat).items()))


def _ranges_overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[0] != a[1] and b[0] != b[1]


def problems_in(result, limit: int = 20000) -> List[str]:
    """Everything wrong with what a load returned (empty when it is safe)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from attnplug.compat import PendingArray, SafeHistoryBuffer
    found, seen, stack = [], set(), [(result, False)]
    arrays, tensors = [], []
    while stack and len(seen) < limit:
        obj, in_buffer = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if not in_buffer:
                found.append(f'a numpy array outside a HistoryBuffer: {obj.dtype} {obj.shape}')
            if obj.base is not None:
                found.append(f'an array that does not own its data (base {type(obj.base)})')
            arrays.append(obj)
        elif isinstance(obj, torch.Tensor):
            if obj.layout == torch.strided and obj.device.type == 'cpu':
                st = obj.untyped_storage()
                tensors.append((st.data_ptr(), st.data_ptr() + st.nbytes()))
            for value in vars(obj).values():
                stack.append((value, False))
        elif isinstance(obj, HistoryBuffer):
            state = vars(obj)
            if set(state) != {'max_length', '_log_history', '_count_history'}:
                found.append(f'an incomplete HistoryBuffer: {sorted(state)}')
                continue
            if len(obj._log_history) != len(obj._count_history):
                found.append('a HistoryBuffer whose histories differ in length')
            try:  # usable as mmengine uses it
                probe = copy.deepcopy(obj)
                probe.update(1.0)
                probe.mean()
                saved = io.BytesIO()
                torch.save(obj, saved)  # and it loads back weights-only
                torch.load(io.BytesIO(saved.getvalue())).update(1.0)
            except Exception as exc:  # noqa: BLE001  (any failure is the finding)
                found.append(f'an unusable HistoryBuffer: {type(exc).__name__}: {exc}')
            if type(obj) not in (HistoryBuffer, SafeHistoryBuffer):
                found.append(f'a HistoryBuffer of type {type(obj)}')
            stack.extend((v, True) for v in state.values())
        elif isinstance(obj, PendingArray):
            if obj._array is not None:
                if obj._array.base is not None:
                    found.append('a load-time array record that does not own its data')
                arrays.append(obj._array)
        elif isinstance(obj, dict):
            stack.extend((x, False) for kv in obj.items() for x in kv)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((x, False) for x in obj)
    spans = [(a.__array_interface__['data'][0],
              a.__array_interface__['data'][0] + a.nbytes) for a in arrays]
    for i, s in enumerate(spans):
        if any(_ranges_overlap(s, o) for o in spans[i + 1:]):
            found.append('two numpy arrays share memory')
        if any(_ranges_overlap(s, t) for t in tensors):
            found.append('a tensor shares memory with a numpy array')
    return found


@dataclass
class Outcome:
    loaded: bool
    seconds: float
    error: Optional[str] = None
    problems: List[str] = field(default_factory=list)


def run_program(body: bytes, max_seconds: float = 1.0, max_message: int = 16384) -> Outcome:
    """Load one program and check the result, the time and the refusal message."""
    data = checkpoint_bytes(body)
    before = process_state()
    start = time.perf_counter()
    try:
        result = torch.load(io.BytesIO(data), map_location='cpu')
    except Exception as exc:  # noqa: BLE001  (every refusal is an outcome, judged below)
        seconds = time.perf_counter() - start
        message = f'{type(exc).__name__}: {exc}'
        outcome = Outcome(False, seconds, message[:300])
        if len(message) > max_message:
            outcome.problems.append(f'a refusal message of {len(message)} characters')
    else:
        seconds = time.perf_counter() - start
        outcome = Outcome(True, seconds, problems=problems_in(result))
        del result
    if outcome.seconds > max_seconds:
        outcome.problems.append(f'the load took {outcome.seconds:.2f} s')
    if process_state() != before:
        outcome.problems.append('the load changed process state')
    return outcome


@dataclass
class FuzzRecord:
    programs: int
    seed: int
    loaded: int
    refused: int
    failures: int
    seconds: float
    max_load_seconds: float
    reachable_globals: int
    date: str
    machine: str
    torch: str
    numpy: str
    command: str
    first_failures: List[Dict] = field(default_factory=list)


def fuzz(programs: int, seed: int = 0, on_failure: Optional[Callable] = None,
         max_seconds: float = 1.0) -> FuzzRecord:
    """Run ``programs`` random programs from ``seed``; return the record."""
    import attnplug  # noqa: F401  (installs the allowlist being attacked)

    # torch imports these lazily the first time a file names a nested tensor, which takes
    # seconds once and adds torch's own allowlist entries: done here, not inside a timed load.
    import torch._dynamo  # noqa: F401
    import torch.nested._internal.nested_tensor  # noqa: F401

    names = reachable_globals() + ['os.system', 'builtins.eval']  # two refused ones
    rng = random.Random(seed)
    counts, worst, failures = Counter(), 0.0, []
    start = time.perf_counter()
    for index in range(programs):
        body = generate(rng, names)
        outcome = run_program(body, max_seconds=max_seconds)
        counts['loaded' if outcome.loaded else 'refused'] += 1
        worst = max(worst, outcome.seconds)
        if outcome.problems:
            failures.append(dict(index=index, problems=outcome.problems,
                                 program=body.hex()[:4000]))
            if on_failure is not None:
                on_failure(index, body, outcome)
    return FuzzRecord(
        programs=programs, seed=seed, loaded=counts['loaded'], refused=counts['refused'],
        failures=len(failures), seconds=round(time.perf_counter() - start, 1),
        max_load_seconds=round(worst, 4), reachable_globals=len(names) - 2,
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=_cpu_model(), torch=torch.__version__, numpy=np.__version__,
        command='python ' + ' '.join(sys.argv) if sys.argv and sys.argv[0].endswith(
            'fuzz_checkpoints.py') else f'fuzz(programs={programs}, seed={seed})',
        first_failures=failures[:5])


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_report(record: FuzzRecord, prefix: str) -> None:
    """``PREFIX.json`` (the record) and ``PREFIX.md`` (its table, for the doc block in
    docs/security.md, rendered by tools/render_docs.py)."""
    with open(prefix + '.json', 'w') as f:
        f.write(json.dumps(asdict(record), indent=1) + '\n')
    columns = [('programs', 'programs'), ('seed', 'seed'), ('loaded', 'loaded'),
               ('refused', 'refused'), ('failures', 'failures'),
               ('max_load_seconds', 'slowest load (s)'), ('reachable_globals', 'reachable globals'),
               ('seconds', 'wall time (s)'), ('torch', 'torch'), ('numpy', 'numpy')]
    values = asdict(record)
    lines = ['# Fuzzing the weights-only checkpoint loader', '',
             f'- date: {record.date}', f'- machine: {record.machine}',
             f'- command: `{record.command}`', '',
             '| ' + ' | '.join(title for _, title in columns) + ' |',
             '|' + '---:|' * len(columns),
             '| ' + ' | '.join(f'{values[key]:,}' if isinstance(values[key], int) else
                               str(values[key]) for key, _ in columns) + ' |', '']
    with open(prefix + '.md', 'w') as f:
        f.write('\n'.join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--programs', type=int, default=20000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write PREFIX.json and PREFIX.md (the committed record: '
                        'docs/benchmarks/security_fuzz)')
    args = parser.parse_args(argv)

    def report(index, body, outcome):
        print(f'program {index}: {outcome.problems} ({outcome.error})', flush=True)

    record = fuzz(args.programs, args.seed, on_failure=report)
    print(f'{record.programs} programs (seed {record.seed}): {record.loaded} loaded, '
          f'{record.refused} refused, {record.failures} failures, slowest load '
          f'{record.max_load_seconds} s, {record.seconds} s in all')
    if args.out:
        write_report(record, args.out)
    return 1 if record.failures else 0


if __name__ == '__main__':
    sys.exit(main())
