"""Shared fixtures: the repository root, the bundled data and a runner for tools in subprocesses."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_every_test():
    """Every test sees the same random inputs, so a failure reproduces (and does not depend
    on the tests that ran before it)."""
    import torch
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return ROOT


def run_python(args, cwd=ROOT, timeout=900, env=None, check=True):
    """Run ``python *args`` in a fresh interpreter; return the CompletedProcess.

    On failure the assertion message carries the tail of stdout and stderr.
    """
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join([str(ROOT), full_env.get('PYTHONPATH', '')])
    full_env.setdefault('OMP_NUM_THREADS', '2')
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, (
            f'python {" ".join(map(str, args))} exited {proc.returncode}\n'
            f'--- stdout (tail) ---\n{proc.stdout[-4000:]}\n'
            f'--- stderr (tail) ---\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def python_runner():
    return run_python


def load_script(path):
    """A script of this repository (``'data/generate.py'``) imported by path as a module, so that
    tests can call its functions."""
    import importlib.util
    import re
    spec = importlib.util.spec_from_file_location(
        'attnplug_script_' + re.sub(r'\W', '_', str(Path(path).with_suffix(''))), ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def data_generator():
    """``data/generate.py`` as a module: ``generate(root, datasets, num_train, num_val, seed)``
    writes the bundled datasets, ``check(root)`` validates them."""
    return load_script('data/generate.py')


@pytest.fixture(scope='module')
def workspace(tmp_path_factory, python_runner):
    """A scratch directory to run tools from, whose ``data/`` holds a small generated copy of
    the bundled Cityscapes and COCO (6 train + 3 val images each): the project configs' data
    paths resolve there unchanged."""
    ws = tmp_path_factory.mktemp('e2e')
    python_runner([ROOT / 'data' / 'generate.py', '--root', ws / 'data', '--datasets',
                   'cityscapes', 'coco', '--num-train', '6', '--num-val', '3'])
    return ws


def _default_scope_guard():
    from mmengine.registry import DefaultScope

    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """A module fixture that builds a model or a Runner leaves a DefaultScope behind; its setup
    runs before the autouse guards below save their state, so undo it here. (Session fixtures
    are set up through the session node, which does not see this conftest's hooks: they undo
    their own scope.)"""
    if fixturedef.scope == 'function':
        yield
        return
    guard = _default_scope_guard()
    next(guard)
    yield
    next(guard, None)


# Undo any mmengine DefaultScope a test or a module fixture creates (``register_all_modules(True)``,
# ``init_default_scope``): a lookup must not depend on the order the tests ran in.
_restore_default_scope_per_module = pytest.fixture(autouse=True, scope='module')(_default_scope_guard)
_restore_default_scope_per_test = pytest.fixture(autouse=True)(_default_scope_guard)
