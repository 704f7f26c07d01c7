"""The plugin core: how every attnplug host checks, builds, runs and initialises the attention
modules a config puts into a model.

Four hosts take plugins, each in the config form its users know, and all of them are thin
over this module:

* the ResNet blocks and stages (:mod:`.backbones.resnet_plugins`):
  ``plugins=[dict(cfg, position, stages)]``, mmcv's format, as mmdet's ResNet; a plugin gets the
  channels of the feature at its position;
* ``WithPlugins`` (:mod:`.with_plugins`): ``plugins=[dict(cfg, after, layout, index)]``; the
  channels come from a dry run of the wrapped model;
* ``AttentionFPN`` (:mod:`.necks.attention_fpn`): ``attn_cfg`` and ``attn_position``, at
  ``out_channels``;
* ``AttnFCNHead`` (:mod:`.decode_heads.attn_fcn_head`): ``attn_cfg``, at the head's
  ``channels``.

What they share, here and nowhere else:

* **Checks** (:func:`check_cfg`, :func:`check_choice`, :func:`check_plugin_list`,
  :func:`plan_plugins`). A refused config raises a :class:`~attnplug.errors.ConfigError`
  whose message reads ``<host>: <key> ...`` and says what was expected. A type no registry
  knows raises :class:`~attnplug.errors.ConfigKeyError` (also a ``KeyError``), a value of the
  wrong Python type :class:`~attnplug.errors.ConfigTypeError` (also a ``TypeError``): code
  written for mmcv's ``build_plugin_layer`` or for an ``assert`` still catches them.
* **Type lookup** (:func:`resolve_plugin_type`), as ``build_plugin_layer`` does it (the current
  scope's registry and its parents; ``'scope.Name'`` in that scope), listing the known plugin
  types when it fails.
* **Building** (:func:`build_plugin`): ``cls(in_channels=..., **cfg)`` named
  ``infer_abbr(cls) + postfix``, exactly as ``build_plugin_layer``. An error raised by the
  plugin's own constructor keeps its class and message and gets a note saying which key,
  position and channel count the host was filling.
* **Running** (:func:`run_chain`): several plugins at one place run one after another, each on
  the previous output; a plugin must keep its input's shape.
* **Initialisation** (:class:`PluginHostMixin`, :func:`init_plugin`): a host's own init
  (Kaiming or Xavier on every ``Conv2d``) also hits its plugins' convs, which would undo a
  residual plugin's identity start; the plugins' own init runs after it.
"""
import inspect
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks.plugin import infer_abbr
from mmengine.model import BaseModule, ModuleDict, update_init_info
from mmengine.registry import MODELS as MMENGINE_MODELS

from attnplug.errors import ConfigError, ConfigKeyError, ConfigTypeError
from attnplug.frameworks import missing_framework
from attnplug.registry import MODELS as ATTNPLUG_MODELS

__all__ = [
    'ConfigError', 'ConfigKeyError', 'ConfigTypeError', 'PLUGIN_DICT_KEYS', 'PluginSpec',
    'check_cfg', 'check_choice', 'check_plugin_list', 'in_stage', 'known_plugin_types',
    'resolve_plugin_type', 'plan_plugins', 'build_plugin', 'run_chain', 'run_plugins',
    'init_plugin', 'init_apart', 'add_note', 'error_text', 'PluginHostMixin', 'PluginChain'
]

#: The keys of one entry of mmcv's ``plugins`` list.
PLUGIN_DICT_KEYS = ('cfg', 'position', 'stages')


class PluginSpec(NamedTuple):
    """One plugin, checked and ready to build.

    ``cfg`` has its ``type`` resolved to a class and no ``postfix`` or ``in_channels`` keys:
    :func:`build_plugin` passes those itself. ``where`` is the host and ``key`` the config key
    the plugin came from, for messages.
    """
    position: str
    name: str
    postfix: str
    cfg: dict
    in_channels: int
    where: str = '?'
    key: str = 'cfg'


# ------------------------------------------------------------------------------ messages
def quoted(names: Iterable[str]) -> str:
    """``'a', 'b'``: names as a message lists them."""
    return ', '.join(repr(n) for n in names)


def type_name(layer_type) -> str:
    """The name of a cfg's ``type``, a class or a registered name."""
    return layer_type.__name__ if inspect.isclass(layer_type) else str(layer_type)


def add_note(err: BaseException, note: str) -> None:
    """``err.add_note(note)`` (Python >= 3.11; on older versions the chained traceback is
    all there is)."""
    if hasattr(err, 'add_note'):
        err.add_note(note)


def error_text(err: BaseException) -> str:
    """An exception's message with its notes, as a traceback shows them."""
    return '\n'.join([str(err), *getattr(err, '__notes__', ())])


# ------------------------------------------------------------------------------ checks
def check_cfg(cfg, where: str, key: str = 'cfg') -> dict:
    """A copy of the plugin config ``cfg``, or a :class:`ConfigTypeError` if it is not a
    dict with a ``'type'``."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ConfigTypeError(f"{where}: {key} must be a dict with a 'type' (e.g. "
                              f"dict(type='attnplug.CBAM')), got {cfg!r}")
    return dict(cfg)


def check_choice(value, valid: Sequence[str], where: str, key: str, about: str = '',
                 what: str = 'positions') -> None:
    """Refuse ``value`` unless it is one of ``valid``, listing them: ``<where>: <key>=<value>
    (<about>) is not valid here. Valid <what>: ...``."""
    if value not in valid:
        about = f' ({about})' if about else ''
        raise ConfigError(f'{where}: {key}={value!r}{about} is not valid here. Valid {what}: '
                          f'{quoted(valid)}.')


def check_plugin_list(plugins, valid_positions: Sequence[str], num_stages: Optional[int],
                      owner: str) -> List[dict]:
    """Check the structure of mmcv's ``plugins`` list and return normalised copies.

    Args:
        plugins (list[dict] | None): ``dict(cfg=..., position=..., stages=...)``
            entries, ``stages`` optional.
        valid_positions (Sequence[str]): Positions the owner offers.
        num_stages (int | None): Required length of ``stages``; None to
            refuse ``stages`` (a single block has no stages).
        owner (str): Who is being built, for the messages.

    Returns:
        list[dict]: ``dict(cfg, position, stages, key)`` copies, ``stages`` None where it was
        left out, ``key`` the entry's config key (``"plugins[k]['cfg']"``).
    """
    if plugins is None:
        return []
    if not isinstance(plugins, (list, tuple)):
        raise ConfigTypeError(
            f'{owner}: plugins must be a list of dicts, got {type(plugins).__name__}')
    checked = []
    for k, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or 'cfg' not in plugin or 'position' not in plugin:
            raise ConfigError(
                f"{owner}: plugins[{k}] must be a dict with keys 'cfg' and 'position' "
                f"(and optionally 'stages'), got {plugin!r}")
        extra = sorted(set(plugin) - set(PLUGIN_DICT_KEYS))
        if extra:
            raise ConfigError(
                f'{owner}: plugins[{k}] has unknown key(s) {quoted(extra)}; the keys are '
                f"{quoted(PLUGIN_DICT_KEYS)}. Plugin arguments (and 'postfix') go inside 'cfg'.")
        key = f"plugins[{k}]['cfg']"
        cfg = check_cfg(plugin['cfg'], owner, key)
        position = plugin['position']
        check_choice(position, valid_positions, owner, f"plugins[{k}]['position']",
                     type_name(cfg['type']))
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
        checked.append(dict(cfg=plugin['cfg'], position=position, stages=stages, key=key))
    return checked


def in_stage(plugin: dict, stage_idx: int) -> bool:
    """Whether a checked plugin dict applies to stage ``stage_idx``."""
    return plugin['stages'] is None or plugin['stages'][stage_idx]


# ------------------------------------------------------------------------------ types
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


def _current_registry():
    with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
        return registry


def known_plugin_types(registry=None) -> List[str]:
    """Names that can go in a plugin ``cfg['type']``.

    Args:
        registry (Registry, optional): The registry unscoped names are looked up
            in (and its parents). Default: the current default scope's.

    Returns:
        list[str]: Unscoped names from ``registry`` and its parents, then
        attnplug's as ``'attnplug.<Name>'`` (unless ``registry`` is attnplug's).
    """
    registry = _current_registry() if registry is None else registry
    names, seen, reg, walked = [], set(), registry, []
    while reg is not None:
        walked.append(reg)
        for name, obj in reg.module_dict.items():
            if name not in seen and _looks_like_plugin(obj):
                seen.add(name)
                names.append(name)
        reg = reg.parent
    if ATTNPLUG_MODELS in walked:
        return sorted(names)
    # A broken attnplug.layers import raises here, with its own traceback, rather than
    # surfacing as an unknown plugin type.
    ATTNPLUG_MODELS.import_from_location()
    scoped = [f'attnplug.{name}' for name, obj in ATTNPLUG_MODELS.module_dict.items()
              if _looks_like_plugin(obj)]
    return sorted(names) + sorted(scoped)


def resolve_plugin_type(layer_type, where: str, registry=None, key: str = 'cfg') -> type:
    """The class ``layer_type`` names, looked up as :func:`mmcv.cnn.build_plugin_layer` does
    (``registry`` and its parents; ``'scope.Name'`` in that scope), with an error listing the
    known names.

    Args:
        layer_type (str | type): The cfg's ``type``.
        where (str): The host, for messages.
        registry (Registry, optional): Where unscoped names are looked up. Default: the
            current default scope's registry (mmcv's choice).
        key (str): The config key, for messages.
    """
    if inspect.isclass(layer_type):
        return layer_type
    if not isinstance(layer_type, str):
        raise ConfigTypeError(
            f"{where}: {key}: 'type' must be a str or a class, got {layer_type!r}")
    registry = _current_registry() if registry is None else registry
    scope, real_key = registry.split_scope_key(layer_type)
    lookup_error = None
    try:
        cls = registry.get(layer_type)
    except KeyError as err:  # attnplug's registry refuses what it does not know
        if missing_framework(real_key) is not None:  # and says which extra to install
            raise ConfigKeyError(f'{where}: {key}: {err.args[0]}') from err
        cls, lookup_error = None, err
    except RuntimeError as err:  # mmengine: "Failed to get <dotted.path>"
        cls, lookup_error = None, err
    if cls is None:
        looked_up = (f'the {scope!r} registry' if scope else
                     f'the {registry.scope!r} registry and its parents')
        raise ConfigKeyError(
            f'{where}: {key}: plugin type {layer_type!r} is not registered (looked up in '
            f'{looked_up}). Known plugin types: '
            f'{", ".join(known_plugin_types(registry))}') from lookup_error
    return cls


# ------------------------------------------------------------------------------ planning
def plan_plugins(entries: Sequence[tuple], channels: Dict[str, int], where: str,
                 registry=None) -> List[PluginSpec]:
    """Check the plugins of one host (a block, a stage's chain, a neck level, a head) before
    any is built.

    Args:
        entries (Sequence[tuple]): ``(position, cfg)`` or ``(position, cfg, key)`` in config
            order; ``key`` names the cfg in messages (default ``'cfg'``).
        channels (dict[str, int]): ``in_channels`` at each valid position.
        where (str): The host, for messages.
        registry (Registry, optional): Where unscoped types are looked up (see
            :func:`resolve_plugin_type`).

    Returns:
        list[PluginSpec]: One per entry, in config order.
    """
    specs, owner_of = [], {}
    for entry in entries:
        position, cfg = entry[:2]
        key = entry[2] if len(entry) > 2 else 'cfg'
        cfg = check_cfg(cfg, where, key)
        name_of_type = type_name(cfg['type'])
        check_choice(position, list(channels), where, 'position', f'{name_of_type} from {key}')
        cls = resolve_plugin_type(cfg['type'], where, registry, key)
        cfg['type'] = cls
        postfix = cfg.pop('postfix', '')
        if not isinstance(postfix, (int, str)):
            raise ConfigTypeError(
                f'{where}: {key} ({name_of_type}): postfix must be an int or a str, '
                f'got {postfix!r}')
        name = infer_abbr(cls) + str(postfix)
        expected = channels[position]
        if 'in_channels' in cfg:
            given = cfg.pop('in_channels')
            if given != expected:
                raise ConfigError(
                    f'{where}: {key} ({name_of_type}) has in_channels={given}, but the feature '
                    f'at {position!r} has {expected} channels (expected {expected}, given '
                    f'{given}). Leave in_channels out of {key} (it is filled in) or set it '
                    f'to {expected}.')
        if name in owner_of:
            raise ConfigError(
                f'{where}: two plugins are both named {name!r} (positions {owner_of[name]!r} '
                f'and {position!r}). Plugins of one host share its namespace: give them '
                f"distinct postfixes, e.g. cfg=dict(type='{name_of_type}', postfix='2').")
        owner_of[name] = position
        specs.append(PluginSpec(position, name, str(postfix), cfg, expected, where, key))
    return specs


def build_plugin(spec: PluginSpec) -> Tuple[str, nn.Module]:
    """Build one planned plugin: ``(name, module)``, as :func:`mmcv.cnn.build_plugin_layer`
    names and builds it (``cls(in_channels=..., **cfg)``, named ``infer_abbr(cls) +
    postfix``). An error of the plugin's own constructor keeps its class and message and gets
    a note saying where the plugin was being put."""
    cfg = dict(spec.cfg)
    cls = cfg.pop('type')
    try:
        layer = cls(in_channels=spec.in_channels, **cfg)
    except Exception as err:
        # The plugin's own message knows its arguments, not where it was being put: add that
        # to the same exception.
        add_note(err, f'(while building {spec.key} as plugin {spec.name!r} [{cls.__name__}] '
                 f'with in_channels={spec.in_channels} at position {spec.position!r} of '
                 f'{spec.where})')
        raise
    return spec.name, layer


# ------------------------------------------------------------------------------ running
def run_chain(plugins: Sequence[Tuple[str, nn.Module]], x: torch.Tensor,
              location: Union[str, Callable[[], str]]) -> torch.Tensor:
    """Apply ``plugins`` (``(name, module)`` pairs) one after another, each to the previous
    output.

    A plugin must return a tensor of its input's shape; an error raised inside a plugin gets
    a note saying where it sits. ``location`` says where, or is a function that says it (called
    only when there is an error to report).
    """
    for name, plugin in plugins:
        try:
            out = plugin(x)
        except Exception as err:
            where = location() if callable(location) else location
            add_note(err, f'(raised by plugin {name!r} [{type(plugin).__name__}] at {where})')
            raise
        if out.shape != x.shape:
            where = location() if callable(location) else location
            raise RuntimeError(
                f'plugin {name!r} [{type(plugin).__name__}] at {where} returned shape '
                f'{tuple(out.shape)} for an input of shape {tuple(x.shape)}; a plugin must '
                f"return a tensor of its input's shape.")
        x = out
    return x


def run_plugins(host: nn.Module, names: Sequence[str], x: torch.Tensor,
                position: str) -> torch.Tensor:
    """:func:`run_chain` over ``host``'s plugins ``names`` at ``position``."""
    return run_chain([(name, getattr(host, name)) for name in names], x,
                     lambda: f'{position!r} of {host.plugin_location}')


# ------------------------------------------------------------------------------ init
def init_plugin(plugin: nn.Module) -> None:
    """Run a plugin's own initialisation again: ``init_weights()`` where it has one (an
    mmengine ``BaseModule``, marked uninitialised first), else ``reset_parameters()`` (mmcv's
    ``ContextBlock``); a plugin with neither keeps its weights."""
    if isinstance(plugin, BaseModule):
        plugin.is_init = False
    if hasattr(plugin, 'init_weights'):
        plugin.init_weights()
    elif hasattr(plugin, 'reset_parameters'):
        plugin.reset_parameters()


def init_apart(module: BaseModule) -> None:
    """``module.init_weights()`` for plugins kept out of their model's own init (as
    ``WithPlugins`` keeps its plugin tree out of the wrapped model's).

    mmengine's ``BaseModule.init_weights`` treats a module without ``_params_init_info`` as the
    top of the model and dumps its init log; a wrapped model that is itself the top has already
    dropped that record, so the plugins get a temporary one in mmengine's format. That
    attribute is private to mmengine: docs/internals.md lists it, and
    tests/test_internals_contract.py checks it.
    """
    if hasattr(module, '_params_init_info'):
        module.init_weights()
        return
    info = defaultdict(dict)
    for param in module.parameters():
        info[param]['init_info'] = 'initialised by the plugin itself'
        info[param]['tmp_mean_value'] = param.data.mean().cpu()
    for m in module.modules():
        m._params_init_info = info
    try:
        module.init_weights()
    finally:
        for m in module.modules():
            del m._params_init_info


class PluginHostMixin:
    """Adds built plugins to a :class:`mmengine.model.BaseModule` and keeps their own
    initialisation.

    A host's default init (``Kaiming`` on every ``Conv2d`` for a backbone, ``Xavier`` for an
    FPN, applied by ``BaseModule.init_weights`` before it recurses into the children) also hits
    the plugins' convs, which undoes a residual plugin's zero/identity start. mmengine then
    calls ``init_weights()`` of each direct child that has one, which repairs plugins that
    define it; this ``init_weights`` also repairs plugins that only have
    ``reset_parameters()`` (mmcv's ``ContextBlock``) and plugins that ran their
    ``init_weights()`` already (mmengine would skip them). All of this happens before a
    ``Pretrained`` ``init_cfg`` of an enclosing module loads its checkpoint, so checkpoint
    weights still win.

    A host whose plugins are not its direct attributes overrides :meth:`plugin_modules`.
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
                    f'{where}: {spec.key} ({type_name(spec.cfg["type"])}): plugin name '
                    f'{spec.name!r} (position {spec.position!r}) clashes with an existing '
                    f'attribute of {type(self).__name__}; give the plugin a postfix in its '
                    f"cfg, e.g. postfix='_attn'.")
            name, layer = build_plugin(spec)
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
                    init_plugin(plugin)
                    # mmengine's private BaseModule._params_init_info (docs/internals.md):
                    # present while the top module's init_weights() runs; update_init_info
                    # logs this init in it.
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
