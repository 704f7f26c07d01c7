"""Deprecated: moved to :mod:`attnplug.visualization.attention_maps` (the attention-map protocol's
drawing lives in ``attnplug.visualization``). This alias keeps old imports working."""
import warnings

from ..visualization.attention_maps import *  # noqa: F401,F403
from ..visualization.attention_maps import __all__  # noqa: F401

warnings.warn('attnplug.analysis.attention_maps is deprecated; import '
              'attnplug.visualization.attention_maps', DeprecationWarning, stacklevel=2)
