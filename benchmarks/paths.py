"""Where the repository is: the one place of the project that knows its root.

``benchmarks/`` is not installed (``setup.py`` packages ``attnplug`` alone): it runs from a
checkout, where the configs, ``data/`` and the committed artefacts under ``docs/`` are. Every
benchmark module takes the root from here, and nothing under ``attnplug/`` computes it.
"""
import importlib.util
import os.path as osp
import re

__all__ = ['ROOT', 'rel', 'repo_script']

#: The repository's root folder (the parent of ``benchmarks/``).
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def rel(path: str) -> str:
    """``path`` relative to :data:`ROOT` (how rows, records and reports name files)."""
    return osp.relpath(osp.abspath(path), ROOT)


def repo_script(path: str):
    """A script of this repository (``'tools/sweep.py'``, ``'data/generate.py'``) imported as a
    module, so that tests can call its functions; it is run afresh on every call."""
    full = osp.join(ROOT, path)
    if not osp.isfile(full):
        raise FileNotFoundError(f'repo_script: {path} is not a file under {ROOT}')
    name = 'attnplug_script_' + re.sub(r'\W', '_', osp.splitext(path)[0])
    spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
