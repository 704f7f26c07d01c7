"""attnplug's exception types."""

__all__ = ['ConfigError']


class ConfigError(ValueError, AssertionError):
    """A config value that attnplug refuses, with a message naming the module, the key and
    what was expected.

    It is a ``ValueError`` (the right type for a bad argument) and an ``AssertionError``,
    because the mmcv/mmseg/mmdet classes that attnplug's drop-ins replace reject the same
    configs with ``assert``: code and tests written for the originals
    (``pytest.raises(AssertionError)``) still catch it.
    """
