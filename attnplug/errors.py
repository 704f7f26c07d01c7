"""attnplug's exception types."""

__all__ = ['ConfigError', 'ConfigKeyError', 'ConfigTypeError']


class ConfigError(ValueError, AssertionError):
    """A config value that attnplug refuses, with a message naming the module, the key and
    what was expected.

    It is a ``ValueError`` (the right type for a bad argument) and an ``AssertionError``,
    because the mmcv/mmseg/mmdet classes that attnplug's drop-ins replace reject the same
    configs with ``assert``: code and tests written for the originals
    (``pytest.raises(AssertionError)``) still catch it.
    """


class ConfigKeyError(ConfigError, KeyError):
    """A ``type`` no registry knows. Also a ``KeyError``, which mmengine's registries raise
    for the same mistake. Its message is shown as written (``KeyError`` would quote it)."""

    __str__ = BaseException.__str__


class ConfigTypeError(ConfigError, TypeError):
    """A config value of the wrong Python type (a cfg that is not a dict with a ``type``, a
    postfix that is not a str). Also a ``TypeError``, which some hosts raised before their
    checks moved to :mod:`attnplug.models.plugins`."""
