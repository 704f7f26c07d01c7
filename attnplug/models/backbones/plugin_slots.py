"""Plugin slots: how a backbone checks, builds, initialises and runs the plugins
configured at its named positions.

The config format is mmcv's, as in mmdet's and mmseg's ResNet::

    plugins=[dict(cfg=dict(type='attnplug.CBAM', postfix='1'),  # postfix is optional
                  position='after_conv3',
                  stages=(False, True, True, True))]            # stages is optional

A backbone describes each slot as ``{position: in_channels}``. This module turns
such a list into built modules, failing at build time with errors that name the
slot (stage, block type, position) instead of a bare ``assert``. Where mmcv, mmseg
or mmdet assert on a config, the error is a :class:`~attnplug.errors.ConfigError`
(a ``ValueError`` that is also an ``AssertionError``), so code written for the
originals still catches it. Nothing here is ResNet-specific.
"""
import inspect
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_plugin_layer
from mmcv.cnn.bricks.plugin import infer_abbr
from mmengine.model import BaseModule, ModuleDict
from mmengine.model.weight_init import update_init_info
from mmengine.registry import MODELS as MMENGINE_MODELS

from attnplug.errors import ConfigError
from attnplug.registry import MODELS as ATTNPLUG_MODELS

__all__ = [
    'PLUGIN_DICT_KEYS', 'PluginSpec', 'check_plugin_list', 'in_stage', 'plan_plugins',
    'resolve_plugin_type', 'known_plugin_types', 'run_plugins', 'add_note', 'error_text',
    'PluginHostMixin', 'PluginChain'
]

PLUGIN_DICT_KEYS = ('cfg', 'position', 'stages')


class PluginSpec(NamedTuple):
    """One plugin, checked and ready to build.

    ``cfg`` has its ``type`` resolved to a class and no ``postfix`` or
    ``in_channels`` keys: the builder passes those itself.
    """
    position: str
    name: str
    postfix: str
    cfg: dict
    in_channels: int


def _quoted(names: Iterable[str]) -> str:
    return ', '.join(repr(n) for n in names)


def check_plugin_list(plugins, valid_positions: Sequence[str], num_stages: Optional[int],
                      owner: str) -> List[dict]:
    """Check the structure of a ``plugins`` list and return normalised copies.

    Args:
        plugins (list[dict] | None): ``dict(cfg=..., position=..., stages=...)``
            entries, ``stages`` optional.
        valid_positions (Sequence[str]): Positions the owner offers.
        num_stages (int | None): Required length of ``stages``; None to
            refuse ``stages`` (a single block has no stages).
        owner (str): Who is being built, for the messages.

    Returns:
        list[dict]: ``dict(cfg, position, stages)`` copies, ``stages`` None
        where it was left out.
    """
    if plugins is None:
        return []
    if not isinstance(plugins, (list, tuple)):
        raise TypeError(f'{owner}: plugins must be a list of dicts, got {type(plugins).__name__}')
    checked = []
    for k, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or 'cfg' not in plugin or 'position' not in plugin:
            raise ConfigError(
                f"{owner}: plugins[{k}] must be a dict with keys 'cfg' and 'position' "
                f"(and optionally 'stages'), got {plugin!r}")
        extra = sorted(set(plugin) - set(PLUGIN_DICT_KEYS))
        if extra:
            raise ConfigError(
                f'{owner}: plugins[{k}] has unknown key(s) {_quoted(extra)}; the keys are '
                f"{_quoted(PLUGIN_DICT_KEYS)}. Plugin arguments (and 'postfix') go inside 'cfg'.")
        cfg, position = plugin['cfg'], plugin['position']
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ConfigError(
                f"{owner}: plugins[{k}]['cfg'] must be a dict with a 'type', got {cfg!r}")
        if position not in valid_positions:
            raise ConfigError(
                f'{owner}: plugins[{k}] ({_type_name(cfg["type"])}) has position {position!r}, '
                f'which is not a valid position here. Valid positions: {_quoted(valid_positions)}.')
        stages = plugin.get('stages')
        if stages is not None:
            if num_stages is None:
                raise ConfigError(
                    f"{owner}: plugins[{k}] has 'stages', but a single block has no stages")
            if len(stages) != num_stages:
                raise ConfigError(
                    f"{owner}: plugins[{k}]['stages'] has {len(stages)} entries, but the backbone "
                    f'has num_stages={num_stages}; give one bool per stage or leave stages out '
                    f'(all stages).')
            stages = tuple(bool(s) for s in stages)
        checked.append(dict(cfg=cfg, position=position, stages=stages))
    return checked


def in_stage(plugin: dict, stage_idx: int) -> bool:
    """Whether a checked plugin dict applies to stage ``stage_idx``."""
    return plugin['stages'] is None or plugin['stages'][stage_idx]


def _type_name(layer_type) -> str:
    return layer_type.__name__ if inspect.isclass(layer_type) else str(layer_type)


def _looks_like_plugin(obj) -> bool:
    """Whether :func:`mmcv.cnn.build_plugin_layer` could build ``obj`` from a plugin cfg:
    an ``nn.Module`` class that names its instances with an ``_abbr_`` (mmcv's convention for
    the layers its builders name, which backbones, necks and heads do not follow), taking
    ``in_channels`` and no ``out_channels`` (which would make it a conv layer)."""
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)) or not hasattr(obj, '_abbr_'):
        return False
    try:
        params = inspect.signature(obj.__init__).parameters
    except (TypeError, ValueError):  # a C-implemented __init__: not a plugin
        return False
    return 'in_channels' in params and 'out_channels' not in params


def known_plugin_types(registry=None) -> List[str]:
    """Names that can go in a plugin ``cfg['type']``.

    Args:
        registry (Registry, optional): The registry unscoped names are looked up
            in (and its parents). Default: the current default scope's.

    Returns:
        list[str]: Unscoped names from ``registry`` and its parents, then
        attnplug's as ``'attnplug.<Name>'``.
    """
    if registry is None:
        with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
            pass
    names, seen, reg = [], set(), registry
    while reg is not None:
        for name, obj in reg._module_dict.items():
            if name not in seen and _looks_like_plugin(obj):
                seen.add(name)
                names.append(name)
        reg = reg.parent
    # A broken attnplug.layers import raises here, with its own traceback, rather than
    # surfacing as an unknown plugin type.
    ATTNPLUG_MODELS.import_from_location()
    scoped = [f'attnplug.{name}' for name, obj in ATTNPLUG_MODELS._module_dict.items()
              if _looks_like_plugin(obj)]
    return sorted(names) + sorted(scoped)


def resolve_plugin_type(layer_type, where: str) -> type:
    """The class ``layer_type`` names, looked up as
    :func:`mmcv.cnn.build_plugin_layer` does (current scope, then its parents;
    ``'scope.Name'`` in that scope), with an error listing the known names."""
    if inspect.isclass(layer_type):
        return layer_type
    if not isinstance(layer_type, str):
        raise TypeError(f"{where}: plugin cfg 'type' must be a str or a class, got {layer_type!r}")
    lookup_error = None
    with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
        try:
            cls = registry.get(layer_type)
        except KeyError as err:
            # attnplug's registry already lists its names: keep its message.
            raise KeyError(f'{where}: {err.args[0]}') from err
        except RuntimeError as err:  # mmengine: "Failed to get <dotted.path>"
            cls, lookup_error = None, err
    if cls is None:
        raise KeyError(
            f'{where}: plugin type {layer_type!r} is not registered (looked up in the '
            f'{registry.scope!r} registry and its parents). Known plugin types: '
            f'{", ".join(known_plugin_types(registry))}') from lookup_error
    return cls


def plan_plugins(entries: Sequence[Tuple[str, dict]], channels: Dict[str, int],
                 where: str) -> List[PluginSpec]:
    """Check the plugins of one host (a block, or one stage's chain) before any
    is built.

    Args:
        entries (Sequence[tuple[str, dict]]): ``(position, cfg)`` pairs in
            config order.
        channels (dict[str, int]): ``in_channels`` at each valid position.
        where (str): The host, for the messages.

    Returns:
        list[PluginSpec]: One per entry, in config order.
    """
    specs, owner_of = [], {}
    for position, cfg in entries:
        if position not in channels:
            raise ConfigError(f'{where}: plugin position {position!r} is not valid here. '
                             f'Valid positions: {_quoted(channels)}.')
        cfg = dict(cfg)
        type_name = _type_name(cfg['type'])
        cls = resolve_plugin_type(cfg['type'], where)
        cfg['type'] = cls
        postfix = cfg.pop('postfix', '')
        if not isinstance(postfix, (int, str)):
            raise TypeError(
                f'{where}: plugin {type_name} postfix must be an int or a str, got {postfix!r}')
        name = infer_abbr(cls) + str(postfix)
        expected = channels[position]
        if 'in_channels' in cfg:
            given = cfg.pop('in_channels')
            if given != expected:
                raise ConfigError(
                    f'{where}, position {position!r}: plugin {type_name} has in_channels={given} '
                    f'in its cfg, but the feature there has {expected} channels '
                    f'(expected {expected}, given {given}). Leave in_channels out of the '
                    f'plugin cfg (the backbone fills it in) or set it to {expected}.')
        if name in owner_of:
            raise ConfigError(
                f'{where}: two plugins are both named {name!r} (positions {owner_of[name]!r} '
                f'and {position!r}). Plugins of one block share its namespace: give them '
                f"distinct postfixes, e.g. cfg=dict(type='{type_name}', postfix='2').")
        owner_of[name] = position
        specs.append(PluginSpec(position, name, str(postfix), cfg, expected))
    return specs


def add_note(err: BaseException, note: str) -> None:
    """``err.add_note(note)`` (Python >= 3.11; on older versions the chained traceback is
    all there is)."""
    if hasattr(err, 'add_note'):
        err.add_note(note)


def error_text(err: BaseException) -> str:
    """An exception's message with its notes, as a traceback shows them."""
    return '\n'.join([str(err), *getattr(err, '__notes__', ())])


def run_plugins(host: nn.Module, names: Sequence[str], x: torch.Tensor,
                position: str) -> torch.Tensor:
    """Apply ``host``'s plugins ``names`` one after another (chained).

    A plugin must return a tensor of its input's shape; errors raised inside a
    plugin get a note saying where it sits.
    """
    for name in names:
        plugin = getattr(host, name)
        try:
            out = plugin(x)
        except Exception as err:
            add_note(err, f'(raised by plugin {name!r} [{type(plugin).__name__}] at '
                     f'{position!r} of {host.plugin_location})')
            raise
        if out.shape != x.shape:
            raise RuntimeError(
                f'plugin {name!r} [{type(plugin).__name__}] at {position!r} of '
                f'{host.plugin_location} returned shape {tuple(out.shape)} for an input of '
                f'shape {tuple(x.shape)}; a plugin must return a tensor of its input\'s shape.')
        x = out
    return x


class PluginHostMixin:
    """Adds built plugins to a :class:`mmengine.model.BaseModule` and keeps
    their own initialisation.

    A backbone's default init (``Kaiming`` on every ``Conv2d``, applied by
    ``BaseModule.init_weights`` before it recurses into the children) also hits
    the plugins' convs, which undoes a residual plugin's zero/identity start.
    mmengine then calls ``init_weights()`` of each direct child that has one,
    which repairs plugins that define it; a host's ``init_weights`` also
    repairs plugins that only have ``reset_parameters()`` (mmcv's
    ``ContextBlock``) and plugins that ran their ``init_weights()`` already
    (mmengine would skip them). All of this happens before a ``Pretrained``
    ``init_cfg`` of an enclosing module loads its checkpoint, so checkpoint
    weights still win.
    """

    plugin_location = '?'

    def _add_plugins(self, specs: Sequence[PluginSpec], positions: Sequence[str],
                     where: str) -> None:
        self.plugin_names = {position: [] for position in positions}
        # Position by position, as mmcv's hosts build them (module and state-dict order are
        # mmdet's); config order within a position, which is the chaining order.
        ordered = [spec for position in positions for spec in specs if spec.position == position]
        for spec in ordered:
            if hasattr(self, spec.name):
                raise ConfigError(
                    f'{where}: plugin name {spec.name!r} (position {spec.position!r}) clashes '
                    f'with an existing attribute of {type(self).__name__}; give the plugin a '
                    f"postfix in its cfg, e.g. postfix='_attn'.")
            try:
                name, layer = build_plugin_layer(spec.cfg, postfix=spec.postfix,
                                                 in_channels=spec.in_channels)
            except Exception as err:
                # The plugin's own message knows its arguments, not where it was being put:
                # add that to the same exception.
                add_note(err, f'(while building plugin {spec.name!r} '
                         f'[{_type_name(spec.cfg["type"])}] with in_channels={spec.in_channels} '
                         f'at position {spec.position!r} of {where})')
                raise
            if name != spec.name:  # plan_plugins named it with mmcv's own infer_abbr
                raise RuntimeError(f'{where}: mmcv named plugin {spec.name!r} {name!r}')
            self.add_module(name, layer)
            self.plugin_names[spec.position].append(name)
        self.plugin_location = where

    def plugin_modules(self) -> List[nn.Module]:
        """list[nn.Module]: This host's plugins, in config order per position."""
        return [getattr(self, n) for names in self.plugin_names.values() for n in names]

    def forward_plugin(self, x: torch.Tensor, plugin_names: Sequence[str]) -> torch.Tensor:
        """Apply the plugins ``plugin_names`` one after another, each to the
        previous one's output (mmseg 1.2.2's ``Bottleneck.forward_plugin``
        applies each to ``x`` and keeps only the last result)."""
        if not plugin_names:
            return x
        position = next((p for p, names in self.plugin_names.items()
                         if list(names) == list(plugin_names)), '?')
        return run_plugins(self, plugin_names, x, position)

    def init_weights(self):
        first_time = not self.is_init
        plugins = self.plugin_modules()
        if first_time:
            for plugin in plugins:
                if isinstance(plugin, BaseModule):
                    plugin.is_init = False
        super().init_weights()
        if first_time:
            for plugin in plugins:
                if not hasattr(plugin, 'init_weights') and hasattr(plugin, 'reset_parameters'):
                    plugin.reset_parameters()
                    if hasattr(plugin, '_params_init_info'):
                        update_init_info(plugin, init_info='Initialized by the plugin\'s own '
                                         f'reset_parameters() in {type(plugin).__name__}')


class PluginChain(PluginHostMixin, ModuleDict):
    """Plugins applied one after another at a single position, e.g. after a
    whole backbone stage.

    Args:
        specs (Sequence[PluginSpec]): Plugins from :func:`plan_plugins`, all at
            ``position``.
        position (str): The position name.
        where (str): Where the chain sits, for messages.
    """

    def __init__(self, specs: Sequence[PluginSpec], position: str, where: str):
        super().__init__()
        self.position = position
        self._add_plugins(specs, (position, ), where)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_plugins(self, self.plugin_names[self.position], x, self.position)
