"""The weights-only loader attacked as one surface: attnplug's stand-ins chained with the
functions torch allowlists by default (issue: a checkpoint that corrupted memory).

Every file is written opcode by opcode (benchmarks/fuzz_checkpoints.py's writers) and loaded
with plain ``torch.load``, as mmengine's ``_load_checkpoint`` and ``Runner.resume`` do. Each
test fails on the stand-ins before this change (``CheckedArray``: a real ndarray filled in
place, BUILD accepted again, bytes viewed in place, bool bytes unchecked, unbounded reprs);
docs/security.md records that run.
"""
import fnmatch
import importlib.util
import io
import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

import attnplug  # noqa: F401  (installs the allowlist)
from attnplug import compat

_spec = importlib.util.spec_from_file_location(
    'fuzz_checkpoints', Path(__file__).resolve().parents[1] / 'benchmarks' / 'fuzz_checkpoints.py')
fz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fz)

RECONSTRUCT = fz.op_global('numpy._core.multiarray', '_reconstruct')
NDARRAY = fz.op_global('numpy', 'ndarray')
FROM_NUMPY = fz.op_global('torch._utils', '_rebuild_device_tensor_from_numpy')
FROM_TYPE_V2 = fz.op_global('torch._tensor', '_rebuild_from_type_v2')
HB = fz.op_global(*fz.HISTORY_BUFFER)


def _array_class_name():
    """The name under which this version allowlists the object ``_reconstruct`` returns."""
    names = [name for _, name in compat.mmengine_checkpoint_globals()
             if name.startswith('attnplug.compat.')]
    assert len(names) == 1, names
    return names[0].rpartition('.')[::2]


def _new_array(put=None):
    """``_reconstruct(ndarray, (0,), b'b')``, numpy's first step, optionally memoised."""
    body = fz.op_call(RECONSTRUCT, NDARRAY, fz.op_tuple(fz.op_int(0)), fz.op_bytes(b'b'))
    return body + (fz.op_put(put) if put is not None else b'')


def _array_state(code='f8', n=4, data=None, dtype=None):
    data = fz.op_bytes(bytes(np.dtype(code).itemsize * n)) if data is None else data
    return fz.op_tuple(fz.op_int(1), fz.op_tuple(fz.op_int(n)),
                       dtype or fz.fragment(np.dtype(code)), fz.FALSE, data)


def _load(body):
    """Load ``body``; the load leaves mmengine's, numpy's, torch's and attnplug's state alone."""
    before = fz.process_state()
    out = torch.load(io.BytesIO(fz.checkpoint_bytes(body)))
    assert fz.process_state() == before
    return out


def _load_refused(body, match=None):
    before = fz.process_state()
    with pytest.raises((pickle.UnpicklingError, TypeError, AttributeError)) as err:
        _load(body)
    assert fz.process_state() == before
    if match:
        assert match in str(err.value), str(err.value)
    return err.value


def test_use_after_free_chain_is_refused():
    """A tensor made over a memoised array by torch's own ``_rebuild_device_tensor_from_numpy``,
    then the array BUILT again with another size: the tensor pointed at freed memory."""
    array = _new_array(put=0) + _array_state(n=4) + fz.BUILD
    tensor = fz.op_call(FROM_NUMPY, array, fz.op_global('torch', 'float64'), fz.op_str('cpu'),
                        fz.FALSE)
    again = fz.op_get(0) + _array_state(n=1000) + fz.BUILD
    err = _load_refused(fz.op_dict({'weight': tensor, 'again': again}))
    # refused at the first step that needs an ndarray: no array exists during the load
    assert 'np.ndarray' in str(err) or 'already built' in str(err), str(err)


def test_second_build_of_a_memoised_array_is_refused():
    first = _new_array(put=0) + _array_state(n=4) + fz.BUILD
    again = fz.op_get(0) + _array_state(n=1000) + fz.BUILD
    _load_refused(fz.op_dict({'a': first, 'b': again}), match='already built')


def test_setstate_through_rebuild_from_type_v2_is_refused_on_a_built_record():
    """``_rebuild_from_type_v2(func, new_type, args, state)`` calls ``__setstate__`` on what
    ``func`` returns: on a fresh record it is one BUILD, a second one is refused."""
    cls = fz.op_global(*_array_class_name())
    made = fz.op_call(FROM_TYPE_V2, RECONSTRUCT, cls,
                      fz.op_tuple(NDARRAY, fz.op_tuple(fz.op_int(0)), fz.op_bytes(b'b')),
                      _array_state(n=3)) + fz.op_put(0)
    again = fz.op_get(0) + _array_state(n=1000) + fz.BUILD
    _load_refused(fz.op_dict({'a': made, 'b': again}), match='already built')


HEAP_WRITE = """
import io, sys
sys.path.insert(0, {bench!r})
import torch, attnplug, fuzz_checkpoints as fz
body = bytes.fromhex({body!r})
try:
    out = torch.load(io.BytesIO(fz.checkpoint_bytes(body)))
except Exception as exc:
    print('REFUSED', type(exc).__name__, str(exc)[:200])
else:
    print('LOADED', type(out))
"""


def test_heap_write_during_the_load_is_refused(python_runner, tmp_path):
    """The load itself writing into freed memory: a dangling tensor (as above) wrapped by
    ``_rebuild_parameter`` and given ``{'real': ...}`` state through ``_rebuild_from_type_v2``,
    whose ``Tensor.real`` setter copies into it. Run in a child process: before the fix this
    corrupts the heap."""
    array = _new_array(put=0) + _array_state(n=4) + fz.BUILD
    dangling = fz.op_call(FROM_NUMPY, array, fz.op_global('torch', 'float64'), fz.op_str('cpu'),
                          fz.FALSE) + fz.op_put(1)
    free = fz.op_get(0) + _array_state(n=1000) + fz.BUILD
    source = fz.op_call(fz.op_global('torch._utils', '_rebuild_tensor_v2'), fz.storage_pid(),
                        fz.op_int(0), fz.op_tuple(fz.op_int(4)), fz.op_tuple(fz.op_int(1)),
                        fz.FALSE, fz.op_call(fz.op_global('collections', 'OrderedDict')))
    write = fz.op_call(FROM_TYPE_V2, fz.op_global('torch._utils', '_rebuild_parameter'),
                       fz.op_global('torch', 'Tensor'),
                       fz.op_tuple(fz.op_get(1), fz.FALSE,
                                   fz.op_call(fz.op_global('collections', 'OrderedDict'))),
                       fz.op_dict({'real': source}))
    body = fz.op_dict({'t': dangling, 'free': free, 'w': write})
    script = tmp_path / 'heap_write.py'
    script.write_text(HEAP_WRITE.format(bench=str(Path(fz.__file__).parent), body=body.hex()))
    proc = python_runner([script], check=False)
    assert proc.returncode == 0 and 'REFUSED' in proc.stdout, (proc.returncode, proc.stdout,
                                                               proc.stderr[-2000:])


def test_newobj_without_build_gives_a_complete_buffer(tmp_path):
    """A HistoryBuffer made by NEWOBJ and never BUILT is an ordinary empty buffer: mmengine's
    MessageHub accepts it, updates it and saves it, and the saved hub loads again."""
    from mmengine.logging import MessageHub

    body = fz.op_dict({'log_scalars': fz.op_dict({'train/loss': HB + fz.EMPTY_TUPLE + fz.NEWOBJ}),
                       'runtime_info': fz.op_dict({}), 'resumed_keys': fz.op_dict({})})
    state = _load(body)
    buf = state['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.max_length == HistoryBuffer().max_length and len(buf._log_history) == 0
    hub = MessageHub.get_instance('attnplug_newobj_without_build')
    hub.load_state_dict(state)
    hub.update_scalar('train/loss', 2.0)
    hub.update_scalar('train/loss', 4.0)
    assert hub.get_scalar('train/loss').mean() == pytest.approx(3.0)
    path = tmp_path / 'hub.pth'
    torch.save({'message_hub': hub.state_dict()}, path)
    again = torch.load(path)['message_hub']['log_scalars']['train/loss']
    assert type(again) is HistoryBuffer and again.mean() == pytest.approx(3.0)


def test_an_array_never_views_the_files_bytes():
    """numpy's own ``__setstate__`` makes a writable view of the pickled ``bytes``: writing to
    the array changed a dict key elsewhere in the checkpoint, an immutable object."""
    raw = bytes(range(256)) * 16  # 4 KiB: numpy copies small data itself, and views the rest
    key = fz.op_bytes(raw) + fz.op_put(5)
    array = _new_array() + _array_state(n=512, data=fz.op_get(5)) + fz.BUILD
    body = fz.EMPTY_DICT + fz.MARK + key + fz.op_int(1) + fz.op_str('a') + array + fz.SETITEMS
    out = _load(body)
    found = out['a']
    values = found if isinstance(found, np.ndarray) else found.to_numpy()
    assert values.base is None, 'the array is a view of another object'
    values[...] = 9.0
    assert raw in out and list(out)[0] == raw, 'writing to the array changed a bytes object'


def test_bool_data_is_validated():
    """Bool data other than 0/1 gave a torch bool tensor holding the raw bytes 5 and -1."""
    bad = _new_array() + _array_state('b1', n=2, data=fz.op_bytes(b'\x05\xff')) + fz.BUILD
    tensor = fz.op_call(FROM_NUMPY, bad, fz.op_global('torch', 'bool'), fz.op_str('cpu'), fz.FALSE)
    _load_refused(fz.op_dict({'t': tensor}))
    _load_refused(fz.op_dict({'a': bad}), match='other than 0 and 1')
    scalar = fz.op_call(fz.op_global('numpy._core.multiarray', 'scalar'),
                        fz.fragment(np.dtype('b1')), fz.op_bytes(b'\x05'))
    _load_refused(fz.op_dict({'s': scalar}), match='other than 0 and 1')
    good = _new_array() + _array_state('b1', n=2, data=fz.op_bytes(b'\x01\x00')) + fz.BUILD
    assert _load(fz.op_dict({'a': good}))['a'].to_numpy().tolist() == [True, False]


def _nested_shared_tuples(depth):
    """One tuple of ``2 ** depth`` leaves made in ``depth`` memoised levels, a few bytes each:
    level k is ``(level k-1, level k-1)``, the second one a memo get."""
    body = fz.op_tuple(fz.op_int(1), fz.op_int(1))
    for level in range(1, depth + 1):
        body = fz.op_tuple(body + fz.op_put(level - 1), fz.op_get(level - 1))
    return body


@pytest.mark.parametrize('where', ['reconstruct_shape', 'dtype_state', 'getattr_name',
                                   'buffer_state'])
def test_refusal_is_bounded_in_time_and_size(where):
    """A 1.4 KB file of nested shared tuples made the refusal message's repr grow
    exponentially (16 s and 0.69 GB at depth 24). Depth 22 here: ~4 M leaves."""
    nested = _nested_shared_tuples(22)
    body = {
        'reconstruct_shape': fz.op_call(RECONSTRUCT, NDARRAY, nested, fz.op_bytes(b'b')),
        'dtype_state': fz.op_call(fz.op_global('numpy', 'dtype'), fz.op_str('f8'), fz.FALSE,
                                  fz.TRUE) + nested + fz.BUILD,
        'getattr_name': fz.op_call(fz.op_global('builtins', 'getattr'), HB, nested),
        'buffer_state': HB + fz.EMPTY_TUPLE + fz.NEWOBJ + fz.op_dict(
            {'max_length': nested, '_log_history': NDARRAY, '_count_history': NDARRAY}) + fz.BUILD,
    }[where]
    start = time.perf_counter()
    err = _load_refused(fz.op_dict({'x': body}))
    assert time.perf_counter() - start < 1.0
    assert len(str(err)) < 2000, len(str(err))


def test_amplification_is_no_worse_than_plain_torch():
    """Deflate amplification is a limit of weights-only loading itself: one shared object used
    many times. Each buffer copies its arrays (no aliasing), so one 64 KiB array used by K
    buffers allocates K copies. Plain torch does the same with one storage and K dtype
    conversions. The ratio of bytes allocated to file bytes must not exceed torch's."""
    k, n = 64, 8192
    array = _new_array(put=0) + _array_state(n=n) + fz.BUILD

    def buffer(log):
        return HB + fz.EMPTY_TUPLE + fz.NEWOBJ + fz.op_dict(
            {'max_length': fz.op_int(10), '_log_history': log,
             '_count_history': log}) + fz.BUILD

    body = fz.EMPTY_LIST + fz.MARK + array + b''.join(
        buffer(fz.op_get(0)) for _ in range(k)) + fz.APPENDS
    file_bytes = len(fz.checkpoint_bytes(body))
    buffers = _load(body)[1:]
    ours = sum(b._log_history.nbytes + b._count_history.nbytes for b in buffers)
    assert len({b._log_history.__array_interface__['data'][0] for b in buffers}) == k

    # plain torch: one float32 storage of n elements, k conversions to float64
    storage = bytes(4 * n)
    source = fz.op_call(fz.op_global('torch._utils', '_rebuild_tensor_v2'),
                        fz.storage_pid(numel=n), fz.op_int(0), fz.op_tuple(fz.op_int(n)),
                        fz.op_tuple(fz.op_int(1)), fz.FALSE,
                        fz.op_call(fz.op_global('collections', 'OrderedDict'))) + fz.op_put(0)
    convert = fz.op_global('torch._utils', '_rebuild_device_tensor_from_cpu_tensor')
    tbody = fz.EMPTY_LIST + fz.MARK + b''.join(
        fz.op_call(convert, source if i == 0 else fz.op_get(0), fz.op_global('torch', 'float64'),
                   fz.op_str('cpu'), fz.FALSE) for i in range(k)) + fz.APPENDS
    tfile = fz.checkpoint_bytes(tbody, storage=storage)
    tensors = torch.load(io.BytesIO(tfile))
    theirs = sum(t.untyped_storage().nbytes() for t in tensors)
    assert ours / file_bytes <= 2.5 * theirs / len(tfile), (ours / file_bytes,
                                                            theirs / len(tfile))


def _threat_model_rows():
    """The globals column of docs/security.md's reachable-global table, as glob patterns."""
    doc = (Path(__file__).resolve().parents[1] / 'docs' / 'security.md').read_text()
    section = doc.split('### Every reachable global', 1)[1].split('\n### ', 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith('| `'):
            continue
        names = line.split(' | ')[0].split('→')[0]
        patterns = [p for p in re.findall(r'`([^`]+)`', names) if not p.startswith('<')]
        if patterns:
            rows.append(patterns)
    return rows


def test_every_reachable_global_is_in_the_threat_model():
    """Every global a file can resolve (torch's default allowlist and attnplug's entries) is
    named by exactly one row of docs/security.md's table, and every row names one: a torch
    upgrade that allows something new fails here until the threat model covers it."""
    rows = _threat_model_rows()
    names = fz.reachable_globals()
    assert len(names) > 100, names
    for name in names:
        hits = [r for r in rows if any(fnmatch.fnmatchcase(name, p) for p in r)]
        assert len(hits) == 1, f'{name} is named by {len(hits)} rows of docs/security.md: {hits}'
    for row in rows:
        assert any(fnmatch.fnmatchcase(n, p) for n in names for p in row), \
            f'docs/security.md names {row}, which nothing reachable matches'


def test_an_empty_buffer_saved_by_mmengine_loads(tmp_path):
    """An array with no elements pickles its data as ``bytes()`` (protocol 2): a buffer with
    no entries, saved by mmengine itself, loads, and the bare ``bytes`` call is all that is
    allowed of that name."""
    path = tmp_path / 'empty.pth'
    torch.save({'log_scalars': {'x': HistoryBuffer()}}, path)
    buf = torch.load(path)['log_scalars']['x']
    assert type(buf) is HistoryBuffer and len(buf._log_history) == 0
    buf.update(3.0)
    assert buf.current() == 3.0
    _load_refused(fz.op_dict({'b': fz.op_call(fz.op_global('builtins', 'bytes'),
                                              fz.op_int(10 ** 9))}), match='only bytes()')
