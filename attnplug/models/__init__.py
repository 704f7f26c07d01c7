"""Adapters from attnplug's attention layers to the OpenMMLab frameworks
(mmseg, mmdet): backbones with plugin slots, and later necks and decode heads.

The core (:mod:`attnplug.layers`, :mod:`attnplug.functional`) never imports
this package; :mod:`attnplug.registry` imports it lazily on the first lookup of
an ``attnplug.<Name>`` type.
"""
from . import backbones  # noqa: F401  (registration)
from . import necks  # noqa: F401  (registration)
from . import decode_heads  # noqa: F401  (registration)
from . import with_plugins  # noqa: F401  (registration: attnplug.WithPlugins)
