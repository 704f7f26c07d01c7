"""attnplug: visual attention modules for OpenMMLab.

Importing the package makes torch >= 2.6 able to load mmengine checkpoints
(checked stand-ins for exactly the globals they pickle, see :mod:`attnplug.compat`
and docs/security.md). Layers and adapters register lazily:
``type='attnplug.<Name>'`` in any OpenMMLab config imports them.
:func:`attnplug.add_plugins` puts them into any ``nn.Module`` (docs/any_model.md).
"""
from .compat import allow_mmengine_checkpoints
from .errors import ConfigError
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__', 'ConfigError', 'add_plugins']


def __getattr__(name):
    # attnplug.add_plugins without importing mmcv/mmengine adapters at ``import attnplug``
    if name == 'add_plugins':
        from .models.with_plugins import add_plugins
        return add_plugins
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
