"""The installed package is the library alone: a wheel built from this checkout holds
``attnplug`` and nothing of ``benchmarks/``, ``tools/`` or ``tests/``, and every ``attnplug``
module imports (and a layer runs) from the unpacked wheel in a fresh interpreter whose working
directory is outside the repository, with no checkout on ``sys.path``."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Left out of the copy the wheel is built from (caches, environments, run outputs).
NOT_COPIED = ('.git', '.venv', 'work_dirs', '__pycache__', '*.egg-info', 'build', 'dist',
              '.pytest_cache')


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the checkout (setuptools writes
    ``build/`` and ``*.egg-info`` next to ``setup.py``: the copy keeps them out of the
    repository); the path of the ``.whl``."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_COPIED))
    out = tmp / 'dist'
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', str(src), '--no-deps',
                           '--no-build-isolation', '--no-cache-dir', '-q', '-w', str(out)],
                          cwd=tmp, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f'pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    wheels = sorted(out.glob('attnplug-*.whl'))
    assert len(wheels) == 1, f'expected one attnplug wheel in {out}, found {wheels}'
    return wheels[0]


def test_the_wheel_holds_the_library_and_no_apparatus(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split('/', 1)[0] for n in names}
    dist_info = {t for t in tops if t.endswith('.dist-info')}
    assert tops - dist_info == {'attnplug'}, f'{wheel.name}: top-level entries {sorted(tops)}'
    # what the checkout keeps outside the package stays out of the wheel
    for folder in ('benchmarks/', 'tools/', 'tests/', 'configs/', 'docs/', 'data/'):
        assert not [n for n in names if n.startswith(folder)], f'{folder} is in {wheel.name}'
    # ... and the package's own tree is there whole: every attnplug/**/*.py of the checkout
    ours = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'attnplug').rglob('*.py'))
    missing = sorted(set(ours) - set(names))
    assert not missing, f'{wheel.name} lacks {missing}'
    assert 'attnplug/analysis/profiling.py' in names  # the library's measuring stays in


CHILD = textwrap.dedent('''
    import importlib, json, os, pkgutil, sys, warnings
    site = sys.argv[1]
    # No checkout may be importable: drop sys.path entries that are one (setup.py beside an
    # attnplug/ folder) and editable-install finders, then put the unpacked wheel first.
    sys.path[:] = [p for p in sys.path if not (
        os.path.isfile(os.path.join(p or '.', 'setup.py'))
        and os.path.isdir(os.path.join(p or '.', 'attnplug')))]
    sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()
                        and 'editable' not in type(f).__module__.lower()]
    sys.path.insert(0, site)
    import attnplug
    result = {'file': attnplug.__file__, 'failed': {}, 'imported': 0,
              'benchmarks': importlib.util.find_spec('benchmarks') is not None}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        for info in pkgutil.walk_packages(attnplug.__path__, 'attnplug.'):
            try:
                importlib.import_module(info.name)
                result['imported'] += 1
            except Exception as e:  # noqa: BLE001 -- every failure is reported by name
                result['failed'][info.name] = f'{type(e).__name__}: {e}'
    import torch
    from attnplug.layers import CBAM
    torch.manual_seed(0)
    out = CBAM(8)(torch.randn(2, 8, 23, 31))
    result['cbam_shape'] = list(out.shape)
    try:
        from attnplug.analysis import leaderboard  # noqa: F401  (moved to benchmarks/)
        result['moved'] = 'imported'
    except ImportError as e:
        result['moved'] = str(e)
    try:
        import attnplug.analysis.sweep  # noqa: F401  (the dotted form of the same)
        result['moved_dotted'] = 'imported'
    except ImportError as e:
        result['moved_dotted'] = str(e)
    print(json.dumps(result))
''')


def test_every_module_imports_from_the_unpacked_wheel_outside_the_repository(wheel, tmp_path):
    site = tmp_path / 'site'
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run([sys.executable, '-c', CHILD, str(site)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f'{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}'
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result['file']).resolve().is_relative_to(site.resolve()), result['file']
    assert not result['benchmarks'], 'benchmarks/ is importable outside the checkout'
    assert not result['failed'], f'attnplug modules that fail from the wheel: {result["failed"]}'
    # every module and subpackage of the checkout's attnplug/ (the package itself aside)
    expected = len(list((ROOT / 'attnplug').rglob('*.py'))) - 1
    assert result['imported'] == expected, (result['imported'], expected)
    assert result['cbam_shape'] == [2, 8, 23, 31]
    # the moved experiment modules say where they went instead of failing obscurely
    assert 'benchmarks.leaderboard' in result['moved'] and 'checkout' in result['moved'], \
        result['moved']
    assert 'benchmarks.sweep' in result['moved_dotted'], result['moved_dotted']
