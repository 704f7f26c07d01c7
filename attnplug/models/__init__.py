"""Adapters from attnplug's attention layers to the OpenMMLab frameworks
(mmseg, mmdet): backbones with plugin slots, necks and decode heads.

The core (:mod:`attnplug.layers`, :mod:`attnplug.functional`) never imports
this package; :mod:`attnplug.registry` imports it lazily on the first lookup of
an ``attnplug.<Name>`` type. Each subpackage imports only the adapters whose
framework is installed (:mod:`attnplug.frameworks`): mmseg and mmdet are optional for
each other.
"""
from . import backbones  # noqa: F401  (registration)
from . import necks  # noqa: F401  (registration)
from . import decode_heads  # noqa: F401  (registration)
from . import with_plugins  # noqa: F401  (registration: attnplug.WithPlugins, framework-agnostic)
from attnplug.frameworks import HAS_MMDET, HAS_MMSEG  # noqa: F401
