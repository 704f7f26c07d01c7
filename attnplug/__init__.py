"""attnplug: visual attention modules for OpenMMLab.

Importing the package makes torch >= 2.6 able to load mmengine checkpoints
(checked stand-ins for exactly the globals they pickle, see :mod:`attnplug.compat`
and docs/security.md). Layers and adapters register lazily:
``type='attnplug.<Name>'`` in any OpenMMLab config imports them.
"""
from .compat import allow_mmengine_checkpoints
from .errors import ConfigError
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__', 'ConfigError']
