"""Which OpenMMLab frameworks this environment has, for the adapters to register.

``pip install attnplug[seg]`` brings mmseg without mmdet, ``attnplug[det]`` mmdet without
mmseg. Each adapter needs only its own framework; :mod:`attnplug.models` and :mod:`attnplug.datasets` import the
adapters whose framework is present, and a lookup of one whose framework is missing says
which extra to install instead of listing it as unknown.
"""
import importlib.util
from typing import Dict

__all__ = ['HAS_MMSEG', 'HAS_MMDET', 'EXTRA', 'missing_framework', 'require']

#: The pip extra of attnplug that installs each framework.
EXTRA = {'mmseg': 'seg', 'mmdet': 'det'}


def _present(name: str) -> bool:
    """Whether ``name`` is installed (a missing package, not a broken one: a framework that
    is present but fails to import raises when its adapters are imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # hidden by an import hook, or sys.modules[name] = None
        return False


HAS_MMSEG = _present('mmseg')
HAS_MMDET = _present('mmdet')

# Registered name -> framework it needs, for the names this environment cannot register.
_UNAVAILABLE: Dict[str, str] = {}


def require(framework: str, *names: str) -> bool:
    """Whether ``framework`` is present; if not, remember that ``names`` need it."""
    present = {'mmseg': HAS_MMSEG, 'mmdet': HAS_MMDET}[framework]
    if not present:
        _UNAVAILABLE.update(dict.fromkeys(names, framework))
    return present


def missing_framework(name: str):
    """The framework ``name`` needs and this environment lacks, or None."""
    return _UNAVAILABLE.get(name)
