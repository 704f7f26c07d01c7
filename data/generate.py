#!/usr/bin/env python
"""Generate small synthetic datasets in the exact layouts of Cityscapes, PASCAL VOC and COCO.

The code is the package next to this file, ``data/bundled/`` (scenes, encoders, writers, check,
command line); this script is its command line and keeps the import path scripts and tests use.

Usage (from the repository root)::

    python data/generate.py                          # all datasets into ./data, 48 train / 16 val
    python data/generate.py --datasets voc --num-train 8 --num-val 4 --root /tmp/d
    python data/generate.py --check                  # validate what is under ./data

It needs only numpy and the standard library. It is a script, not a package module: import it by
path, e.g. ``importlib.util.spec_from_file_location('attnplug_data_generate', 'data/generate.py')``,
then call ``generate(...)`` and ``check(...)``.
"""
import importlib.util
import os
import sys

_PACKAGE = 'attnplug_bundled_data'  # not importable from sys.path: loaded by path, once


def _load_bundled():
    if _PACKAGE not in sys.modules:
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bundled')
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, os.path.join(here, '__init__.py'), submodule_search_locations=[here])
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[_PACKAGE]
            raise
    return sys.modules[_PACKAGE]


_bundled = _load_bundled()
generate, check, main, read_manifest = (_bundled.generate, _bundled.check, _bundled.main,
                                        _bundled.read_manifest)
DATASETS, DATASET_DIRS = _bundled.DATASETS, _bundled.DATASET_DIRS

if __name__ == '__main__':
    sys.exit(main())
