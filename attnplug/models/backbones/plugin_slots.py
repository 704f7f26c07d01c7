"""Deprecated import path: the plugin core moved to :mod:`attnplug.models.plugins`, which all
four plugin hosts (ResNet, ``WithPlugins``, ``AttentionFPN``, ``AttnFCNHead``) use. The names
below stay importable from here."""
from attnplug.registry import MODELS as ATTNPLUG_MODELS  # noqa: F401
from ..plugins import (PLUGIN_DICT_KEYS, ConfigError, PluginChain, PluginHostMixin,  # noqa: F401
                       PluginSpec, _looks_like_plugin, add_note, check_plugin_list, error_text,
                       in_stage, known_plugin_types, plan_plugins, resolve_plugin_type,
                       run_plugins)

__all__ = [
    'PLUGIN_DICT_KEYS', 'PluginSpec', 'check_plugin_list', 'in_stage', 'plan_plugins',
    'resolve_plugin_type', 'known_plugin_types', 'run_plugins', 'add_note', 'error_text',
    'PluginHostMixin', 'PluginChain'
]
