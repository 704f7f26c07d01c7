"""Safe checkpoint loading on torch >= 2.6 (weights_only stays on) and the CPU distributed helpers."""
import os
import pickle

import numpy as np
import pytest
import torch

import attnplug  # noqa: F401  (installs the allowlist)
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


def test_torch_defaults_to_weights_only():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '', '0')
    # torch.load's default must still be the safe one: a foreign global is refused.
    import inspect
    assert 'weights_only' in inspect.signature(torch.load).parameters


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
    names = set()
    for entry in mmengine_checkpoint_globals():
        obj, name = entry if isinstance(entry, tuple) else (entry, None)
        names.add(name or f'{obj.__module__}.{obj.__qualname__}')
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    # nothing callable beyond numpy's array/scalar reconstructors
    callables = {n for n in names if not n.startswith(('numpy.dtypes.', 'mmengine.'))}
    assert callables <= {
        'numpy.ndarray', 'numpy.dtype', 'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar', 'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar', 'builtins.getattr'}, callables
    # 'builtins.getattr' maps to attnplug's restricted stand-in, not to getattr
    entry = [e for e in mmengine_checkpoint_globals() if isinstance(e, tuple)
             and e[1] == 'builtins.getattr']
    assert entry and entry[0][0] is not getattr
    safe = {f'{o.__module__}.{o.__qualname__}' for o in torch.serialization.get_safe_globals()
            if not isinstance(o, tuple)}
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in safe


def test_cpu_distributed_overrides():
    over = cpu_distributed_overrides()
    assert over['env_cfg.dist_cfg.backend'] == 'gloo'
    assert over['model_wrapper_cfg.device_ids'] is None
