"""attnplug: visual attention modules for OpenMMLab.

Importing the package makes torch >= 2.6 able to load mmengine checkpoints
(an exact allowlist, see :mod:`attnplug.compat`). Layers and adapters register
lazily: ``type='attnplug.<Name>'`` in any OpenMMLab config imports them.
"""
from .compat import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
