"""Deprecated: moved to :mod:`attnplug.visualization.overlay` (the attention-map protocol's
drawing lives in ``attnplug.visualization``). This alias keeps old imports working."""
import warnings

from ..visualization.overlay import *  # noqa: F401,F403
from ..visualization.overlay import __all__  # noqa: F401

warnings.warn('attnplug.analysis.overlay is deprecated; import '
              'attnplug.visualization.overlay', DeprecationWarning, stacklevel=2)
