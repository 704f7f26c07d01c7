"""Safe checkpoint loading on torch >= 2.6 (weights_only stays on) and the CPU distributed helpers."""
import os
import pickle
import struct
import textwrap

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

import attnplug  # noqa: F401  (installs the allowlist)
from attnplug import compat
from attnplug.compat import cpu_distributed_overrides, mmengine_checkpoint_globals


class Payload:
    """A foreign object: unpickling it would run arbitrary code."""

    marker = None

    def __reduce__(self):
        return (os.makedirs, (self.marker, ))


def _mmengine_like_checkpoint(path):
    """What mmengine 0.10.7's Runner.save_checkpoint writes, made by mmengine itself."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import save_checkpoint

    hub = MessageHub.get_instance('attnplug_test_compat')
    for i in range(5):
        hub.update_scalar('train/loss', float(np.float32(1.0 / (i + 1))))
        hub.update_scalar('val/mIoU', np.float64(0.5 + i))
    hub.update_info('iter', 5)
    hub.update_info('best_score', np.float64(0.75))
    model = torch.nn.Conv2d(3, 4, 3)
    ckpt = {
        'meta': {'epoch': 0, 'iter': 5, 'mmengine_version': '0.10.7', 'seed': 0,
                 'dataset_meta': {'classes': ('a', 'b'), 'palette': [[0, 0, 0], [1, 1, 1]]},
                 'hook_msgs': {'best_score': np.float64(0.75)}},
        'state_dict': model.state_dict(),
        'message_hub': hub.state_dict(),
        'optimizer': torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
        'param_schedulers': [],
    }
    save_checkpoint(ckpt, str(path))
    return ckpt


def test_torch_load_refuses_a_foreign_global_by_default(tmp_path):
    """torch.load's default (no weights_only argument, as mmengine calls it) must still be
    the safe one in this process: a checkpoint that pickles a foreign global is refused, and
    the refusal is torch's weights-only unpickler's."""
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '', '0')
    marker = tmp_path / 'ran'
    Payload.marker = str(marker)
    path = tmp_path / 'foreign.pth'
    torch.save({'meta': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path)
    assert not marker.exists()


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    path = tmp_path / 'iter_5.pth'
    ref = _mmengine_like_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    hb = ckpt['message_hub']['log_scalars']['train/loss']
    assert type(hb).__name__ == 'HistoryBuffer'
    assert hb.current() == pytest.approx(0.2)
    assert ckpt['meta']['hook_msgs']['best_score'] == pytest.approx(0.75)
    for k, v in ref['state_dict'].items():
        assert torch.equal(ckpt['state_dict'][k], v)
    # mmengine's own loader (used by Runner.load_checkpoint / resume) goes through torch.load
    assert _load_checkpoint(str(path), map_location='cpu')['meta']['iter'] == 5


def test_foreign_object_is_refused_and_named(tmp_path):
    marker = tmp_path / 'pwned'
    Payload.marker = str(marker)
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'meta': Payload()}, f)
    with pytest.raises(pickle.UnpicklingError) as err:
        torch.load(path)
    assert 'makedirs' in str(err.value)  # the refused global is named
    assert not marker.exists(), 'the payload ran'

    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(pickle.UnpicklingError, match='makedirs'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


class AttributeWalk:
    """Pickles as getattr(numpy.ndarray, '__base__'): the first step of a sandbox escape."""

    def __reduce__(self):
        return (getattr, (np.ndarray, '__base__'))


def test_getattr_is_restricted_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'walk.pth'
    torch.save({'x': AttributeWalk()}, path)
    with pytest.raises(pickle.UnpicklingError, match='__base__'):
        torch.load(path)


def test_allowlist_is_exact():
    """Every allowlisted name maps to one of attnplug's checked stand-ins, never to the
    callable it is named after (getattr, numpy's reconstructors, numpy.dtype, HistoryBuffer)."""
    entries = mmengine_checkpoint_globals()
    assert all(isinstance(e, tuple) for e in entries), entries
    names = {name: obj for obj, name in entries}
    expected = {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr', 'builtins.bytes',
        'numpy.dtype',
        'numpy.ndarray', 'attnplug.compat.PendingArray',
        'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar',
        'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar'}
    assert set(names) == expected, set(names) ^ expected
    originals = [getattr, bytes, np.dtype, np.ndarray, HistoryBuffer,
                 np._core.multiarray._reconstruct, np._core.multiarray.scalar]
    for name, obj in names.items():
        assert not any(obj is o for o in originals), name
    assert names['mmengine.logging.history_buffer.HistoryBuffer'] is compat.SafeHistoryBuffer
    installed = {e[1]: e[0] for e in torch.serialization.get_safe_globals() if isinstance(e, tuple)}
    for name in expected:
        assert installed[name] is names[name], name


def test_loaded_buffers_are_mmengine_history_buffers(tmp_path):
    path = tmp_path / 'iter_5.pth'
    ref = _mmengine_like_checkpoint(path)['message_hub']['log_scalars']['train/loss']
    before = _class_state()
    hub = torch.load(path)['message_hub']
    assert _class_state() == before
    for key, buf in hub['log_scalars'].items():
        assert type(buf) is HistoryBuffer, key  # mmengine's own class again
        assert type(buf._log_history) is np.ndarray and buf._log_history.dtype.kind == 'f'
        assert 'statistics_methods' not in vars(buf)
    loss = hub['log_scalars']['train/loss']
    for got, want in zip(loss.data, ref.data):
        np.testing.assert_array_equal(got, want)
    assert loss.max_length == ref.max_length
    assert loss.statistics('mean', 5) == pytest.approx(np.mean([1 / (i + 1) for i in range(5)]))
    assert loss.statistics('max') == pytest.approx(1.0)
    # a loaded buffer pickles back under mmengine's name, and loads again
    again = tmp_path / 'again.pth'
    torch.save({'b': loss}, again)
    assert torch.load(again)['b'].statistics('min') == pytest.approx(0.2)


# ------------------------------------------------------------------ crafted checkpoints
# Each data.pkl below is written opcode by opcode, with only opcodes torch's weights-only
# unpickler accepts, and packed in the zip container torch.load reads.
HB = ('mmengine.logging.history_buffer', 'HistoryBuffer')


def _global(module, name):
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def _str(text):
    raw = text.encode()
    return b'X' + struct.pack('<I', len(raw)) + raw


def _int(n):
    return b'J' + struct.pack('<i', n)


def _tuple(*items):
    return b'(' + b''.join(items) + b't'


def _dict(**items):
    return b'}(' + b''.join(_str(k) + v for k, v in items.items()) + b'u'


def _call(func, *args):
    return func + _tuple(*args) + b'R'


def _fragment(obj):
    """``obj`` as numpy/pickle write it (protocol 2), without PROTO and STOP."""
    raw = pickle.dumps(obj, protocol=2)
    assert raw[:2] == b'\x80\x02' and raw[-1:] == b'.'
    return raw[2:-1]


def _statistic(name):
    return _call(_global('builtins', 'getattr'), _global(*HB), _str(name))


def _buffer(statistics=None, **extra):
    """A HistoryBuffer as mmengine pickles it: NEWOBJ, then BUILD with its __dict__."""
    state = dict(max_length=_int(1000000), _log_history=_fragment(np.array([1.0, 2.0, 6.0])),
                 _count_history=_fragment(np.array([1, 1, 1])))
    if statistics is not None:
        state['statistics_methods'] = _dict(**statistics)
    state.update(extra)
    return _global(*HB) + b')\x81' + _dict(**state) + b'b'


def _write(path, body):
    """A checkpoint torch.load reads: torch's zip container, ``body`` as its data.pkl."""
    data = b'\x80\x02' + body + b'.'
    writer = torch._C.PyTorchFileWriter(str(path))
    writer.write_record('data.pkl', data, len(data))
    writer.write_record('byteorder', b'little', len(b'little'))
    writer.write_record('version', b'3\n', 2)
    writer.write_end_of_file()
    return path


def _class_state():
    """mmengine's class-level state: the shared statistics dict and the class namespace."""
    return (tuple((k, id(v)) for k, v in HistoryBuffer._statistics_methods.items()),
            tuple((k, id(v)) for k, v in vars(HistoryBuffer).items()))


def _fresh_buffer_is_correct():
    buf = HistoryBuffer([1.0, 2.0, 6.0], [1, 1, 1])
    assert buf.statistics('mean') == pytest.approx(3.0)
    assert buf.statistics('max') == 6.0
    assert buf.statistics('min') == 1.0
    assert buf.statistics('current') == 6.0


DEFAULT_STATS = {n: _statistic(n) for n in ('min', 'max', 'current', 'mean')}


def test_hand_built_checkpoint_of_a_genuine_buffer_loads(tmp_path):
    """The positive control: the same writer, with mmengine's genuine state, loads."""
    path = _write(tmp_path / 'good.pth', _dict(hub=_buffer(DEFAULT_STATS)))
    before = _class_state()
    buf = torch.load(path)['hub']
    assert type(buf) is HistoryBuffer
    assert buf.statistics('mean') == pytest.approx(3.0)
    assert _class_state() == before


MALICIOUS = {
    # a statistics name that a later getattr in the same file would then resolve
    'widen_names': ('under the same name', _dict(
        hub=_buffer({**DEFAULT_STATS, '__subclasses__': _statistic('mean')}),
        walk=_call(_statistic('__subclasses__')))),
    # the getattr alone, without any buffer first
    'getattr_beyond_statistics': ('can be resolved', _dict(walk=_statistic('__subclasses__'))),
    # 'mean' remapped to max: every fresh buffer's mean would be the max
    'remap_statistic': ('points at', _dict(hub=_buffer({**DEFAULT_STATS, 'mean': _statistic('max')}))),
    # objects where functions or data are expected
    'smuggle_object_as_statistic': ('not a registered statistics method', _dict(hub=_buffer(
        {**DEFAULT_STATS, 'mean': _fragment(np.array([1.0]))}))),
    'smuggle_instance_attribute': ('must have the keys', _dict(hub=_buffer(
        DEFAULT_STATS, _statistics_methods=_dict(mean=_statistic('max'))))),
    'smuggle_extra_attribute': ('must have the keys',
                                _dict(hub=_buffer(DEFAULT_STATS, mean=_statistic('max')))),
    'object_dtype': ('is not allowed',
                     _dict(x=_call(_global('numpy', 'dtype'), _str('O8'), b'\x89', b'\x88'))),
    'structured_dtype': ('plain numeric dtype', _dict(x=_call(_global('numpy', 'dtype'), _str('f8'), b'\x89', b'\x88') +
                              _tuple(_int(3), _str('|'), b'N', _tuple(_str('a')),
                                     _dict(a=_tuple(_fragment(np.dtype('f8')), _int(0))),
                                     _int(8), _int(1), _int(63)) + b'b')),
    'ndarray_called': ('cannot be called',
                       _dict(x=_call(_global('numpy', 'ndarray'), _tuple(_int(3)), _str('O')))),
    'reconstruct_other_class': ("numpy's array pickle", _dict(x=_call(
        _global('numpy._core.multiarray', '_reconstruct'), _global(*HB), _tuple(_int(0)),
        _str('b')))),
    'history_buffer_called': ('from its state only', _dict(x=_call(_global(*HB), b'N', b'N'))),
    # globals no allowlist names
    'non_allowlisted_global': ('os.system', _dict(x=_call(_global('os', 'system'), _str('true')))),
    'mmengine_function': ('import_modules_from_strings', _dict(x=_call(
        _global('mmengine.utils', 'import_modules_from_strings'), _str('os')))),
}


@pytest.mark.parametrize('name', sorted(MALICIOUS))
def test_crafted_checkpoint_is_refused_without_effect(tmp_path, name):
    reason, body = MALICIOUS[name]
    path = _write(tmp_path / f'{name}.pth', body)
    before = _class_state()
    with pytest.raises(pickle.UnpicklingError, match=reason):  # refused for the right reason
        torch.load(path)
    assert _class_state() == before, 'loading changed mmengine\'s class-level state'
    _fresh_buffer_is_correct()
    # mmengine's own loader (Runner.load_checkpoint, --resume, load_from) refuses it too
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert _class_state() == before


CUSTOM_STATISTIC = """
import numpy as np
from mmengine.logging.history_buffer import HistoryBuffer


@HistoryBuffer.register_statistics
def attnplug_median(self, window_size=None):
    return float(np.median(self._log_history[-(window_size or len(self._log_history)):]))
"""


def test_custom_registered_statistics_load(tmp_path, python_runner):
    """A statistic registered with HistoryBuffer.register_statistics (here by a module imported
    before attnplug, as custom_imports does) is saved in every checkpoint, and loads; in a
    fresh process, so that the registration does not leak into this one."""
    (tmp_path / 'attnplug_test_stats.py').write_text(CUSTOM_STATISTIC)
    script = tmp_path / 'run.py'
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import attnplug_test_stats  # registers 'attnplug_median'
        import torch
        import attnplug  # noqa: F401
        from mmengine.logging import MessageHub
        from mmengine.logging.history_buffer import HistoryBuffer
        from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

        hub = MessageHub.get_instance('custom')
        for v in (3.0, 1.0, 2.0, 10.0):
            hub.update_scalar('train/loss', v)
        save_checkpoint({{'message_hub': hub.state_dict()}}, {str(tmp_path / 'c.pth')!r})
        before = dict(HistoryBuffer._statistics_methods)
        loaded = _load_checkpoint({str(tmp_path / 'c.pth')!r}, map_location='cpu')
        buf = loaded['message_hub']['log_scalars']['train/loss']
        assert dict(HistoryBuffer._statistics_methods) == before
        assert type(buf) is HistoryBuffer
        print('median', buf.statistics('attnplug_median'), 'mean', buf.statistics('mean'))
    """))
    out = python_runner([script]).stdout
    assert 'median 2.5 mean 4.0' in out, out


def test_cpu_distributed_overrides():
    over = cpu_distributed_overrides()
    assert over['env_cfg.dist_cfg.backend'] == 'gloo'
    assert over['model_wrapper_cfg.device_ids'] is None
