"""``attnplug.WithPlugins``: any attnplug module after any submodule of any registered model part.

Backbones such as MiT (SegFormer), Swin, ConvNeXt, CSPNeXt (RTMDet) and CSPDarknet (YOLOX) have
no plugin slot. ``WithPlugins`` builds the part a config would have built and runs plugins on
the outputs of the submodules that dotted glob patterns select::

    model = dict(backbone=dict(
        type='attnplug.WithPlugins', wraps='MixVisionTransformer',  # the base's type moves here
        plugins=[dict(cfg=dict(type='attnplug.CBAM'), after='layers.[1-3].1.*')]))

Design (docs/any_model.md):

* The built object **is** the wrapped model: an instance of a subclass of the wrapped class
  (same ``__name__``), made once per wrapped class, whose only override is ``init_weights``.
  The plugins live under one attribute, ``attnplug_plugins``, mirroring the dotted paths they
  follow (``attnplug_plugins.layers.1.1.0.cbam.*``), so every key of the wrapped model is
  unchanged and checkpoints of the wrapped model load with only plugin keys missing.
* A plugin runs from a forward hook on the matched submodule. The hook is a bound method of the
  plugin site (an ``nn.Module``), so ``copy.deepcopy`` gives hooks bound to the copy's sites and
  export / ``torch.compile`` trace ordinary module calls.
* Layouts: ``'NCHW'``, ``'NHWC'`` and ``'NLC'`` (token sequences (B, N, C) whose H x W the block
  receives, as MiT's ``block(x, hw_shape)`` and Swin's blocks do). H x W is read from the call's
  arguments or from the output tuple, never guessed. Tuple/list outputs: ``index`` says which
  element the plugin runs on; with one tensor element it is that one.
* Layout and ``in_channels`` are found at build time by a dry run: two forwards (no grad, eval
  mode, state restored) of the wrapped model on zero images of two sizes, 64x96 and 96x128 by
  default. The dimensions that change with the input size are spatial; the one that does not is
  the channel dimension. This costs two inference passes of the model at those sizes (a few ms
  for the tiny test models, well under a second for a full-size backbone on a CPU). A part whose
  forward does not take one image (a neck, a head) falls back to static inference: channels
  from the matched module's ``out_channels``/``out_features``/``num_features``/``embed_dims``,
  layout NCHW where that comes from a convolution or a BatchNorm; anything else needs
  ``layout=``. A wrong layout is an error at run time, never a silent reshape.

Framework-agnostic: this file imports torch, mmengine and mmcv only. The wrapped type is looked
up in the registries when the config is built (``mmseg.X``, ``mmdet.X``, ``mmpretrain.X``, or
a name in the current default scope).
"""
import difflib
import fnmatch
import inspect
import re
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.registry import MODELS as MMENGINE_MODELS

from attnplug.errors import ConfigError, ConfigKeyError, ConfigTypeError
from attnplug.registry import MODELS
from attnplug.registry import MODELS as ATTNPLUG_MODELS
from .plugins import build_plugin, check_cfg, init_apart, init_plugin, plan_plugins, run_chain

__all__ = ['WithPlugins', 'add_plugins', 'PluginSite', 'LAYOUTS', 'PLUGINS_ATTR', 'match_paths',
           'plugin_sites', 'DEFAULT_PROBE_SIZES', 'Candidate', 'Placement', 'find_candidates',
           'suggest_placements', 'pattern_for']

LAYOUTS = ('NCHW', 'NHWC', 'NLC')
PLUGINS_ATTR = 'attnplug_plugins'
ENTRY_KEYS = ('cfg', 'after', 'layout', 'index')
# Two input sizes whose strided outputs differ in both H and W for strides up to 32 (the
# differing dims identify the spatial ones) and are not square (a transposed H x W shows).
DEFAULT_PROBE_SIZES = ((64, 96), (96, 128))
#: Attributes where a model declares the one input size it accepts (BEiT's ``img_size``).
MODEL_SIZE_ATTRS = ('img_size', 'pretrain_img_size', 'image_size', 'input_size')
_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


# --------------------------------------------------------------------------- matching
def _match_one(pattern: str, name: str) -> bool:
    """Glob over dotted paths, component by component: ``*``, ``?`` and ``[1-3]`` stay within
    one component; ``**`` spans any number of components (zero included)."""
    return _match_parts(pattern.split('.'), name.split('.'))


def _match_parts(pat: List[str], parts: List[str]) -> bool:
    if not pat:
        return not parts
    if pat[0] == '**':
        return any(_match_parts(pat[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pat[0]) and _match_parts(pat[1:], parts[1:])


def _candidates(pattern: str, names: Sequence[str], limit: int = 12) -> Tuple[str, List[str]]:
    """Where the match stops, and the paths a user may have meant there: the paths that the
    longest matching prefix of the pattern reaches and their children, then close matches."""
    parts = pattern.split('.')
    for k in range(len(parts) - 1, -1, -1):
        reached = [n for n in names if n.count('.') == k - 1 and _match_parts(parts[:k], n.split('.'))]
        if k == 0 or reached:
            break
    prefix = '.'.join(parts[:k])
    near = [n for n in names if (k == 0 and '.' not in n) or any(
        n == r or (n.startswith(r + '.') and n.count('.') == r.count('.') + 1) for r in reached)]
    close = difflib.get_close_matches(pattern, names, n=limit, cutoff=0.5)
    return prefix, list(dict.fromkeys(near + close))[:limit]


def match_paths(model: nn.Module, pattern: str, where: str = 'WithPlugins') -> List[str]:
    """Paths in ``model.named_modules()`` that ``pattern`` matches, in module order.

    Raises:
        ConfigError: if ``pattern`` is empty or matches nothing; the message lists the pattern
            and candidate paths.
    """
    names = [n for n, _ in model.named_modules() if n and not n.startswith(PLUGINS_ATTR)]
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: 'after' must be a non-empty dotted path pattern, got {pattern!r}")
    hits = [n for n in names if _match_one(pattern, n)]
    if not hits:
        prefix, cands = _candidates(pattern, names)
        raise ConfigError(
            f"{where}: after={pattern!r} matches no submodule of {type(model).__name__} (matched "
            f"up to {prefix!r}). Expected a dotted path of named_modules() ('*' stays within one "
            f"component, '**' spans several). Candidate paths: "
            f"{', '.join(cands) if cands else '(none)'}")
    return hits


# --------------------------------------------------------------------------- layouts
def _is_hw(value) -> bool:
    return (isinstance(value, (tuple, list, torch.Size)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value))


def _read_hw(kind: str, key, args, kwargs, output):
    """The grid (H, W) that a call's arguments or output carry at ``(kind, key)`` (see
    :func:`_grid_pairs`; ``'map'``: the last two dims of a (B, C, H, W) output), or None."""
    try:
        if kind == 'arg':
            return tuple(args[key])
        if kind == 'args2':
            return args[key], args[key + 1]
        if kind == 'kwarg':
            return tuple(kwargs[key])
        if kind == 'kwargs2':
            return kwargs[key[0]], kwargs[key[1]]
        if kind == 'out':
            return tuple(output[key])
        if kind == 'out2':
            return output[key], output[key + 1]
        if kind == 'map':
            return tuple(output.shape[-2:])
    except (IndexError, KeyError, TypeError, AttributeError):
        return None
    return None


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f'Tensor{tuple(value.shape)}'
    if isinstance(value, (tuple, list)):
        return type(value).__name__ + '(' + ', '.join(_describe(v) for v in value) + ')'
    return type(value).__name__ if not _is_hw(value) else repr(tuple(value))


def _static_channels(module: nn.Module) -> Tuple[Optional[int], Optional[str], str]:
    """``(channels, layout or None, what it came from)`` from the module's attributes, or from
    the last convolution / linear / norm registered in it."""
    def own(m):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return m.out_channels, 'NCHW', f'{type(m).__name__}.out_channels'
        if isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm, nn.InstanceNorm2d)):
            return m.num_features, 'NCHW', f'{type(m).__name__}.num_features'
        if isinstance(m, nn.GroupNorm):
            return m.num_channels, 'NCHW', 'GroupNorm.num_channels'
        if isinstance(m, nn.Linear):
            return m.out_features, None, 'Linear.out_features'
        if isinstance(m, nn.LayerNorm) and len(m.normalized_shape) == 1:
            return m.normalized_shape[0], None, 'LayerNorm.normalized_shape'
        return None
    found = own(module)
    if found:
        return found
    for attr in ('out_channels', 'embed_dims'):
        value = getattr(module, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
            layout = 'NCHW' if attr == 'out_channels' and convs else None
            return value, layout, f'{type(module).__name__}.{attr}'
    for m in reversed(list(module.modules())[1:]):
        found = own(m)
        if found:
            return found[0], found[1], f'last {found[2]} inside {type(module).__name__}'
    return None, None, 'nothing (no out_channels/embed_dims attribute, no conv, linear or norm)'


def _to_nchw(x: torch.Tensor, layout: str, hw) -> torch.Tensor:
    if layout == 'NCHW':
        return x
    if layout == 'NHWC':
        return x.permute(0, 3, 1, 2)
    b, n, c = x.shape
    return x.transpose(1, 2).reshape(b, c, hw[0], hw[1])


def _from_nchw(y: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == 'NCHW':
        return y
    # contiguous, as the module's own output was: callers may .view() it (Swin's PatchMerging)
    if layout == 'NHWC':
        return y.permute(0, 2, 3, 1).contiguous()
    return y.flatten(2).transpose(1, 2).contiguous()


# --------------------------------------------------------------------------- plugin site
class PluginSite(BaseModule):
    """The plugins that run, chained, on the output of one submodule.

    Args:
        path (str): Dotted path of the submodule in the wrapped model.
        layout (str): ``'NCHW'``, ``'NHWC'`` or ``'NLC'``.
        channels (int): Channels of the feature (the plugins' ``in_channels``).
        index (int | None): Element of a tuple/list output; None for a tensor output.
        hw_source (tuple | None): Where an ``'NLC'`` feature's (H, W) is read:
            ``('arg', i)``, ``('kwarg', name)`` or ``('out', i)``.
    """

    def __init__(self, path: str, layout: str, channels: int, index: Optional[int] = None,
                 hw_source: Optional[tuple] = None, prefix: int = 0):
        super().__init__()
        self.path, self.layout, self.channels = path, layout, channels
        self.index, self.hw_source, self.prefix = index, hw_source, prefix
        self.plugin_names: List[str] = []
        self._grid = None  # the grid read by grid_from_call / grid_from_output in this forward

    @property
    def grid_module(self) -> Optional[str]:
        """The path of the module whose call or output carries this site's grid, when it is
        not the site's own module (None otherwise)."""
        src = self.hw_source
        return src[1] if src is not None and src[0] in ('call', 'output') else None

    def grid_from_call(self, module: nn.Module, args: tuple, kwargs: dict):
        """Forward pre-hook of the enclosing module whose call carries the grid."""
        self._grid = _read_hw(self.hw_source[2], self.hw_source[3], args, kwargs, None)

    def grid_from_output(self, module: nn.Module, args: tuple, kwargs: dict, output):
        """Forward hook of the module (a patch embedding) whose output carries the grid."""
        self._grid = _read_hw(self.hw_source[2], self.hw_source[3], args, kwargs, output)

    def add_plugin(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self.plugin_names.append(name)

    def describe(self) -> str:
        idx = '' if self.index is None else f'[{self.index}]'
        hw, src = '', self.hw_source
        if src is not None and src[0] in ('call', 'output'):
            where = 'the model' if not src[1] else repr(src[1])
            hw = (f', H x W from the (B, C, H, W) output of {where}' if src[2] == 'map' else
                  f', H x W from {src[2]} {src[3]!r} of the {src[0]} of {where}')
        elif src is not None:
            hw = f', H x W from {src[0]} {src[1]!r}'
        if self.prefix:
            hw += f', {self.prefix} prefix token(s) passed through'
        return f'{self.path}{idx} ({self.layout}, C={self.channels}{hw})'

    def _error(self, msg: str) -> RuntimeError:
        return RuntimeError(f'attnplug.WithPlugins: the plugins after {self.describe()}: {msg}')

    def hook(self, module: nn.Module, args: tuple, kwargs: dict, output):
        """Forward hook of the wrapped submodule: returns its output with the plugins applied."""
        if self.index is None:
            if not isinstance(output, torch.Tensor):
                raise self._error(f'expected a tensor output, got {_describe(output)}')
            feat = output
        else:
            if not isinstance(output, (tuple, list)) or len(output) <= self.index:
                raise self._error(f'expected a tuple/list output with an element {self.index}, '
                                  f'got {_describe(output)}')
            feat = output[self.index]
        hw = None
        if self.layout == 'NLC':
            if self.grid_module is None:
                hw = _read_hw(self.hw_source[0], self.hw_source[1], args, kwargs, output)
            else:
                hw = self._grid
            k = self.prefix
            ok = (feat.dim() == 3 and feat.shape[2] == self.channels and hw is not None
                  and k + hw[0] * hw[1] == feat.shape[1])
            expected = (f'(B, {k} + H*W, {self.channels})' if k else
                        f'(B, H*W, {self.channels})') + ' with (H, W) from ' + (
                            'the call' if self.grid_module is None else repr(self.grid_module))
        else:
            c_dim = 1 if self.layout == 'NCHW' else 3
            ok = feat.dim() == 4 and feat.shape[c_dim] == self.channels
            expected = (f'(B, {self.channels}, H, W)' if self.layout == 'NCHW'
                        else f'(B, H, W, {self.channels})')
        if not ok:
            raise self._error(f'got {_describe(feat)}' + (f' with (H, W)={hw}' if hw else '')
                              + f'; expected {expected}. Set layout= (and index=) explicitly.')
        head = None
        if self.prefix:  # class/distillation tokens pass through; the plugins see the grid
            head, feat = feat[:, :self.prefix], feat[:, self.prefix:]
        x = run_chain([(name, getattr(self, name)) for name in self.plugin_names],
                      _to_nchw(feat, self.layout, hw),
                      lambda: f'the output of {self.describe()} in attnplug.WithPlugins')
        new = _from_nchw(x, self.layout)
        if head is not None:
            new = torch.cat([head, new], dim=1)
        if self.index is None:
            return new
        out = list(output)
        out[self.index] = new
        return tuple(out) if isinstance(output, tuple) else out

    def init_weights(self):
        """Each plugin's own initialisation (identity at init where the plugin has one)."""
        for name in self.plugin_names:
            init_plugin(getattr(self, name))


class _PluginTree(BaseModule):
    """Holds the plugin sites under the dotted paths they follow."""

    def site(self, path: str) -> Optional[PluginSite]:
        node = self
        for part in path.split('.'):
            node = node._modules.get(part)
            if node is None:
                return None
        return node if isinstance(node, PluginSite) else None

    def add_site(self, site: PluginSite) -> None:
        node, parts = self, site.path.split('.')
        for part in parts[:-1]:
            child = node._modules.get(part)
            if child is None:
                child = _PluginTree()
                node.add_module(part, child)
            node = child
        node.add_module(parts[-1], site)

    def sites(self) -> List[PluginSite]:
        return [m for m in self.modules() if isinstance(m, PluginSite)]

    def init_weights(self):
        for site in self.sites():
            site.init_weights()


def plugin_sites(model: nn.Module) -> List[PluginSite]:
    """The :class:`PluginSite` s of a model built by ``WithPlugins`` (empty list otherwise)."""
    tree = getattr(model, PLUGINS_ATTR, None)
    return tree.sites() if isinstance(tree, _PluginTree) else []


# --------------------------------------------------------------------------- the subclass
def _new_wrapped(base: type):
    """Unpickling / deepcopy: an empty instance of the subclass made for ``base``."""
    cls = _subclass(base)
    return cls.__new__(cls)


class _WithPluginsMixin:
    """The one override of the wrapped class: plugins are initialised by themselves.

    The wrapped model's ``init_weights`` may re-initialise every Linear/Conv/Norm it finds
    (MiT and Swin do with ``init_cfg=None``; ResNet's Kaiming ``init_cfg`` hits every Conv2d),
    which would undo a plugin's identity start. So the plugin tree is detached while it runs,
    and the plugins initialise themselves afterwards. A ``Pretrained`` ``init_cfg`` therefore
    never sees plugin keys: they are reported here as initialised by the plugins, unless the
    checkpoint holds plugin keys (``attnplug_plugins.*``, as converted checkpoints do); then they
    are loaded from it, all of them or an error.
    """

    def __reduce_ex__(self, protocol):
        # The subclass is made at run time, so pickle cannot find it by name: rebuild it from
        # the wrapped class, which it can.
        return _new_wrapped, (self._attnplug_wraps, ), self.__getstate__()

    def init_weights(self):
        tree = self._modules.pop(PLUGINS_ATTR, None)
        try:
            if hasattr(super(), 'init_weights'):
                super().init_weights()
        finally:
            if tree is not None:
                self._modules[PLUGINS_ATTR] = tree
        if tree is not None:
            init_apart(tree)
            if _load_pretrained_plugins(self, tree):
                return
            keys = [f'{PLUGINS_ATTR}.{k}' for k in tree.state_dict()]
            print_log(f'attnplug.WithPlugins: {len(keys)} plugin tensors of '
                      f'{type(self).__name__} are initialised by the plugins themselves, not by '
                      f'its init_cfg: {", ".join(keys[:8])}{" ..." if len(keys) > 8 else ""}',
                      logger='current')


def _load_pretrained_plugins(model: nn.Module, tree: '_PluginTree') -> bool:
    """Load the plugin tensors of a ``Pretrained`` ``init_cfg`` checkpoint that has them (a
    checkpoint of a WithPlugins model, e.g. one converted by tools/model_converters/): all of
    the plugins' keys, or an error. Returns whether it loaded any; a checkpoint without plugin
    keys (the wrapped model's own) leaves the plugins as they initialised themselves."""
    init_cfg = getattr(model, 'init_cfg', None)
    pretrained = [c for c in (init_cfg if isinstance(init_cfg, list) else [init_cfg])
                  if isinstance(c, dict) and c.get('type') == 'Pretrained']
    if not pretrained:
        return False
    from mmengine.runner.checkpoint import CheckpointLoader
    cfg = pretrained[-1]
    checkpoint = CheckpointLoader.load_checkpoint(cfg['checkpoint'],
                                                  map_location=cfg.get('map_location', 'cpu'))
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    prefix = (cfg.get('prefix') or '').rstrip('.')
    if prefix:
        state = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + '.')}
    head = PLUGINS_ATTR + '.'
    plugin_state = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
    if not plugin_state:
        return False
    missing, unexpected = tree.load_state_dict(plugin_state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"attnplug.WithPlugins: the Pretrained checkpoint {cfg['checkpoint']} has plugin "
            f'tensors that do not fit the plugins of {type(model).__name__}: missing '
            f'{[head + k for k in missing][:8]}, unexpected {[head + k for k in unexpected][:8]}. '
            f'Expected the plugins config the checkpoint was made for')
    print_log(f'attnplug.WithPlugins: loaded {len(plugin_state)} plugin tensors of '
              f"{type(model).__name__} from {cfg['checkpoint']}", logger='current')
    return True


_SUBCLASSES: Dict[type, type] = {}


def _subclass(base: type) -> type:
    cls = _SUBCLASSES.get(base)
    if cls is None:
        cls = type(base.__name__, (_WithPluginsMixin, base),
                   dict(__module__=base.__module__, __doc__=base.__doc__,
                        _attnplug_wraps=base))
        cls.__qualname__ = f'WithPlugins[{base.__qualname__}]'
        _SUBCLASSES[base] = cls
    return cls


def _resolve_wraps(wraps) -> type:
    if inspect.isclass(wraps):
        return wraps
    if not isinstance(wraps, str) or not wraps:
        raise ConfigTypeError(f"attnplug.WithPlugins: 'wraps' must be a registered type name (e.g. "
                        f"'MixVisionTransformer' or 'mmdet.CSPNeXt'), got {wraps!r}")
    if wraps.split('.')[0] == 'attnplug' and wraps.endswith('WithPlugins'):
        raise ConfigError("attnplug.WithPlugins: 'wraps' cannot be WithPlugins itself; put all "
                         "plugins in one plugins list")
    with MMENGINE_MODELS.switch_scope_and_registry(None) as registry:
        try:
            cls = registry.get(wraps)
        except KeyError as err:
            raise ConfigKeyError(f"attnplug.WithPlugins: wraps={wraps!r}: {err.args[0]}") from err
        scope = registry.scope
    if cls is None:
        raise ConfigKeyError(
            f"attnplug.WithPlugins: wraps={wraps!r} is not registered in the {scope!r} registry or "
            f"its parents. Give the type the config had before (a name in the config's "
            f"default_scope), or a scoped name such as 'mmseg.{wraps.split('.')[-1]}', "
            f"'mmdet.{wraps.split('.')[-1]}' or 'mmpretrain.{wraps.split('.')[-1]}'.")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise ConfigTypeError(f'attnplug.WithPlugins: wraps={wraps!r} is {cls!r}, not an nn.Module class')
    return cls


def _check_entries(plugins, owner: str = 'attnplug.WithPlugins') -> List[dict]:
    if not isinstance(plugins, (list, tuple)) or not plugins:
        raise ConfigError(f"{owner}: 'plugins' must be a non-empty list of "
                         f"dict(cfg=..., after=...), got {plugins!r}")
    checked = []
    for k, entry in enumerate(plugins):
        where = f'{owner}: plugins[{k}]'
        if not isinstance(entry, dict) or 'cfg' not in entry or 'after' not in entry:
            raise ConfigError(f"{where} must be a dict with keys 'cfg' and 'after' (optionally "
                             f"'layout' and 'index'), got {entry!r}")
        extra = sorted(set(entry) - set(ENTRY_KEYS))
        if extra:
            raise ConfigError(f'{where} has unknown key(s) {extra}; the keys are {list(ENTRY_KEYS)}. '
                             f"Plugin arguments (and 'postfix') go inside 'cfg'.")
        cfg = check_cfg(entry['cfg'], owner, f"plugins[{k}]['cfg']")
        after = entry['after']
        afters = [after] if isinstance(after, str) else after
        if not isinstance(afters, (list, tuple)) or not all(isinstance(a, str) for a in afters):
            raise ConfigTypeError(f"{where}['after'] must be a str or a list of str, got {after!r}")
        layout = entry.get('layout')
        if layout is not None and layout not in LAYOUTS:
            raise ConfigError(f"{where}['layout']={layout!r} is not one of {LAYOUTS} (or None to "
                             f'detect it)')
        index = entry.get('index')
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise ConfigTypeError(f"{where}['index'] must be an int (element of a tuple/list output) "
                            f'or None, got {index!r}')
        checked.append(dict(cfg=cfg, afters=list(afters), layout=layout, index=index, k=k))
    return checked


def _check_probe(probe, probe_sizes, owner: str) -> dict:
    """The dry run's settings from ``probe=dict(in_channels, sizes)`` and the shorthand
    ``probe_sizes=``."""
    if probe is not None and not isinstance(probe, dict):
        raise ConfigTypeError(f"{owner}: probe must be a dict(in_channels=..., sizes=...), "
                              f"got {probe!r}")
    probe = dict(probe or {})
    unknown = sorted(set(probe) - {'in_channels', 'sizes', 'inputs'})
    if unknown:
        raise ConfigError(f"{owner}: probe has unknown key(s) {unknown}; the keys are "
                         f"'in_channels', 'sizes' and 'inputs'")
    if 'inputs' in probe and not callable(probe['inputs']):
        raise ConfigTypeError(f"{owner}: probe['inputs'] must be a function (H, W) -> the "
                              f"forward's arguments (a tuple), got {probe['inputs']!r}")
    if probe_sizes is not None:
        if 'sizes' in probe:
            raise ConfigError(f"{owner}: probe_sizes={probe_sizes!r} and probe['sizes']="
                             f"{probe['sizes']!r} are both given; give one")
        probe['sizes'] = probe_sizes
    if 'sizes' in probe:
        sizes = probe['sizes']
        ok = isinstance(sizes, (list, tuple)) and all(_is_hw(s) for s in sizes)
        if not ok:
            raise ConfigTypeError(f'{owner}: probe sizes must be a list of (H, W) int pairs, '
                                  f'e.g. [(640, 640)], or () to turn the dry run off; got '
                                  f'{sizes!r}')
        probe['sizes'] = tuple(tuple(s) for s in sizes)
    return probe


# --------------------------------------------------------------------------- the dry run
class _Shape(tuple):
    """The shape of a tensor seen in the dry run (kept instead of the tensor)."""


class _Call(NamedTuple):
    """One module call of the dry run: summaries of its arguments and output, and when it
    started and ended in the forward (a counter over all calls)."""
    path: str
    start: int
    end: int
    args: tuple
    kwargs: dict
    out: Any


def _summary(value, depth: int = 0):
    """What the layout search needs of a value: tensor shapes, (H, W) pairs and ints."""
    if isinstance(value, torch.Tensor):
        return _Shape(value.shape)
    if _is_hw(value):
        return tuple(int(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list)) and depth == 0:
        return [_summary(v, 1) for v in value]
    return type(value).__name__


def _model_sizes(model: nn.Module) -> List[Tuple[int, int]]:
    """The input size a model declares (``img_size``, ``pretrain_img_size``, ``image_size``,
    ``input_size``), as (H, W); empty if it declares none."""
    for attr in MODEL_SIZE_ATTRS:
        value = getattr(model, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return [(value, value)]
        if isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], int):
            return [(value[0], value[0])]
        if _is_hw(value):
            return [tuple(value)]
    return []


def _probe_at(model, c: int, sizes, inputs=None) -> List[List[_Call]]:
    """Run ``model`` on zero images of each size (or on ``inputs(H, W)``, the arguments of a
    forward that does not take one image, e.g. a neck's maps); every module call, in start
    order."""
    named = [(p, m) for p, m in model.named_modules() if not p.startswith(PLUGINS_ATTR)]
    runs, handles, counter, open_calls = [], [], [0], {}

    def pre(path):
        def hook(mod, args, kwargs):
            counter[0] += 1
            open_calls.setdefault(path, []).append(
                (counter[0], tuple(_summary(a) for a in args),
                 {k: _summary(v) for k, v in kwargs.items()}))
        return hook

    def post(path):
        def hook(mod, args, kwargs, output):
            counter[0] += 1
            start, a, kw = open_calls[path].pop()
            runs[-1].append(_Call(path, start, counter[0], a, kw, _summary(output)))
        return hook
    for p, m in named:
        handles.append(m.register_forward_pre_hook(pre(p), with_kwargs=True))
        handles.append(m.register_forward_hook(post(p), with_kwargs=True))
    try:
        with torch.no_grad():
            for h, w in sizes:
                runs.append([])
                open_calls.clear()
                model(*(inputs(h, w) if inputs is not None else (torch.zeros(1, c, h, w), )))
                runs[-1].sort(key=lambda call: call.start)
    finally:
        for handle in handles:
            handle.remove()
    return runs


def _probe(model: nn.Module, paths: Sequence[str], probe: dict) -> Tuple[dict, str]:
    """The dry run: the model on zero images of each probe size, every module call recorded.

    Returns ``(record, '')`` with ``record = dict(sizes=..., runs=[[_Call, ...] per size])``, or
    ``({}, why it failed)``. Without ``sizes`` given, the default sizes are tried, then the input
    size the model declares (``img_size``, ...), for models that accept only that size.
    """
    given = 'sizes' in probe
    tries = [tuple(probe['sizes'])] if given else [DEFAULT_PROBE_SIZES]
    if not given:
        declared = _model_sizes(model)
        if declared:
            tries.append(tuple(declared))
    channels = probe.get('in_channels')
    if probe.get('inputs') is not None:
        cands = [None]
    elif channels is None:
        cands = []
        own = getattr(model, 'in_channels', None)
        if isinstance(own, int) and not isinstance(own, bool):
            cands.append(own)
        cands.append(3)
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is not None:
            cands.append(first.in_channels)
        cands = list(dict.fromkeys(cands))
    else:
        cands = [channels]
    flags = {m: m.training for m in model.modules()}
    reasons = []
    try:
        for m in model.modules():
            m.training = False  # eval without calling train(): no norm_eval/frozen_stages logic
        for sizes in tries:
            for c in cands:
                try:
                    runs = _probe_at(model, c, sizes, probe.get('inputs'))
                except Exception as err:  # noqa: BLE001  reported if no input works
                    what = 'inputs' if c is None else f'in_channels={c}'
                    reasons.append(f'{what}, sizes={list(sizes)}: '
                                   f'{type(err).__name__}: {str(err)[:200]}')
                    continue
                return dict(sizes=tuple(sizes), runs=runs), ''
    finally:
        for m, flag in flags.items():
            m.training = flag
    return {}, '; '.join(reasons)


def _calls_of(record: dict, path: str) -> List[List[_Call]]:
    return [[c for c in run if c.path == path] for run in record['runs']]


def _grid_pairs(args, kwargs, out) -> List[Tuple[str, Any, Tuple[int, int]]]:
    """Every grid a call carries: ``(kind, key, (H, W))``. An (H, W) pair as an argument
    ('arg'), a keyword ('kwarg') or an output element ('out'); H and W as two adjacent int
    arguments ('args2', MSCAN's ``block(x, H, W)``), keywords named H and W ('kwargs2') or
    output elements ('out2', MSCAN's ``x, H, W = patch_embed(x)``)."""
    def _is_hw(v):  # a tensor's shape is not a grid
        return _is_pair(v) and not isinstance(v, _Shape)
    found = [('arg', i, a) for i, a in enumerate(args) if _is_hw(a)]
    found += [('args2', i, (a, b)) for i, (a, b) in enumerate(zip(args, args[1:]))
              if _is_int(a) and _is_int(b)]
    found += [('kwarg', k, v) for k, v in (kwargs or {}).items() if _is_hw(v)]
    for hk, wk in (('H', 'W'), ('h', 'w')):
        if kwargs and _is_int(kwargs.get(hk)) and _is_int(kwargs.get(wk)):
            found.append(('kwargs2', (hk, wk), (kwargs[hk], kwargs[wk])))
    if isinstance(out, list):  # a tuple/list output's summary
        found += [('out', i, o) for i, o in enumerate(out) if _is_hw(o)]
        found += [('out2', i, (a, b)) for i, (a, b) in enumerate(zip(out, out[1:]))
                  if _is_int(a) and _is_int(b)]
    return [(kind, key, tuple(hw)) for kind, key, hw in found]


def _is_pair(v) -> bool:
    return _is_hw(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: The most prefix tokens (class, distillation, register tokens) a token sequence may carry
#: ahead of its grid.
MAX_PREFIX_TOKENS = 16


def _find_grid(path: str, record: dict, first: List[_Call], tokens: List[int], where: str):
    """Where the grid of ``path``'s tokens comes from: ``(source, prefix)``.

    Searched in this order, the first that fits at every probe size wins; a source fits when
    its (H, W) gives ``N = k + H*W`` with the same ``0 <= k <= MAX_PREFIX_TOKENS`` at every
    size (``k`` prefix tokens, passed through untouched):

    1. the block's own call (arguments, keywords, output);
    2. the nearest enclosing call that carries one (its arguments and keywords);
    3. the output of the most recent call that ended before the block started: a patch
       embedding's ``(x, hw_shape)`` or ``(x, H, W)``, else the feature map (B, C, H, W) the
       tokens were flattened from.
    """
    def fits(per_size):
        ks = {n - hw[0] * hw[1] for n, hw in zip(tokens, per_size)}
        k = next(iter(ks))
        return k if len(ks) == 1 and 0 <= k <= MAX_PREFIX_TOKENS else None

    def search(calls_per_size, kinds):
        """The first grid in ``calls_per_size`` (one call per size) that fits."""
        per = [{(kind, key): hw for kind, key, hw in _grid_pairs(c.args, c.kwargs, c.out)
                if kind in kinds} for c in calls_per_size]
        hits = []
        for key in per[0]:
            if all(key in p for p in per[1:]):
                k = fits([p[key] for p in per])
                if k is not None:
                    hits.append((key, k, [p[key] for p in per]))
        return hits

    # 1. the block's own call
    hits = search(first, ('arg', 'args2', 'kwarg', 'kwargs2', 'out', 'out2'))
    if hits:
        if len({tuple(h[2]) for h in hits}) > 1:
            raise ConfigError(
                f'{where}: {path!r} gives tokens and its call carries several different (H, W) '
                f'that fit its N = k + H*W ({[h[0] for h in hits]}); the layout is ambiguous')
        order = ('arg', 'args2', 'kwarg', 'kwargs2', 'out', 'out2')
        key, k, _ = sorted(hits, key=lambda h: (h[1], order.index(h[0][0])))[0]
        return key, k
    # 2. enclosing calls, nearest first
    parts = path.split('.')
    for depth in range(len(parts) - 1, -1, -1):
        outer = '.'.join(parts[:depth])
        encl = []
        for run, call in zip(record['runs'], first):
            encl.append(next((c for c in run if c.path == outer and c.start < call.start
                              and c.end > call.end), None))
        if any(c is None for c in encl):
            continue
        hits = search(encl, ('arg', 'args2', 'kwarg', 'kwargs2'))
        if hits:
            key, k, _ = hits[0]
            return ('call', outer) + key, k
    # 3. outputs of the calls that ended before the block started, most recent first
    runs_before = [sorted((c for c in run if c.end < call.start and c.path != path),
                          key=lambda c: -c.end) for run, call in zip(record['runs'], first)]
    for rank in range(min(len(r) for r in runs_before)):
        calls = [r[rank] for r in runs_before]
        if len({c.path for c in calls}) != 1:
            break  # the two runs took different routes: stop rather than mix them up
        hits = search(calls, ('out', 'out2'))
        if hits:
            key, k, _ = hits[0]
            return ('output', calls[0].path) + key, k
    for rank in range(min(len(r) for r in runs_before)):
        calls = [r[rank] for r in runs_before]
        if len({c.path for c in calls}) != 1:
            break
        if all(isinstance(c.out, _Shape) and len(c.out) == 4 for c in calls):
            k = fits([tuple(c.out[2:]) for c in calls])
            if k is not None:
                return ('output', calls[0].path, 'map', None), k
    raise ConfigError(
        f'{where}: {path!r} gives tokens (B, N, C) with N = {tokens} at the probe sizes '
        f'{list(record["sizes"])}, but no grid (H, W) with N = k + H*W (0 <= k <= '
        f'{MAX_PREFIX_TOKENS} prefix tokens) was found. Looked for: an (H, W) pair or H and W '
        f'as two ints in its own call and output (as block(x, hw_shape), block(x, H, W)); in '
        f'the calls enclosing it ({", ".join(repr(".".join(parts[:d])) for d in range(len(parts) - 1, -1, -1))}); '
        f'in the outputs of the modules called before it (a patch embedding returning '
        f'(x, hw_shape), or the feature map the tokens were flattened from). attnplug never '
        f'guesses a square. Choose a path whose call carries hw_shape')


def _spatial(dh: int, dw: int, size: Tuple[int, int]) -> bool:
    """Whether (dh, dw) can be a feature map of an image of ``size`` (one stride for both)."""
    return any(abs(dh - size[0] / s) <= 1 and abs(dw - size[1] / s) <= 1 for s in range(1, 65))


def _infer_from_probe(path: str, record: dict, index, layout, where: str) -> dict:
    """Layout, channels, index, grid source and prefix tokens of one path from the dry run."""
    calls = _calls_of(record, path)
    if not calls[0]:
        raise ConfigError(f'{where}: {path!r} was not called in the dry run (a container such as '
                         f'ModuleList has no forward of its own, or the model skips it); expected '
                         f'a submodule that is called, e.g. one of its children')
    if any(not c for c in calls):
        raise ConfigError(f'{where}: {path!r} was called at some probe sizes and not at others '
                         f'({list(record["sizes"])}); expected a submodule called on every input')
    first = [c[0] for c in calls]  # the first call at each probe size
    outs = [c.out for c in first]
    if index is None:
        if isinstance(outs[0], _Shape):
            feats = outs
        elif isinstance(outs[0], list):
            tensor_idx = [i for i, o in enumerate(outs[0]) if isinstance(o, _Shape)]
            if len(tensor_idx) != 1:
                raise ConfigError(
                    f'{where}: {path!r} returns {_describe_summary(outs[0])}, which holds '
                    f'{len(tensor_idx)} tensors; expected one. Say which element the plugin runs '
                    f'on with index=, one of {tensor_idx}')
            index = tensor_idx[0]
            feats = [o[index] for o in outs]
        else:
            raise ConfigError(f'{where}: {path!r} returns {_describe_summary(outs[0])}; expected '
                             f'a tensor or a tuple/list of tensors')
    else:
        if not isinstance(outs[0], list) or len(outs[0]) <= index or \
                not isinstance(outs[0][index], _Shape):
            raise ConfigError(f'{where}: index={index} but {path!r} returns '
                             f'{_describe_summary(outs[0])}; expected a tuple/list with a tensor '
                             f'at {index}')
        feats = [o[index] for o in outs]
    shapes = [tuple(f) for f in feats]
    if len({len(s) for s in shapes}) != 1 or len(shapes[0]) not in (3, 4):
        raise ConfigError(f'{where}: {path!r} gives features of shapes {shapes} at the probe sizes; '
                         f'expected (B, C, H, W), (B, H, W, C) or (B, N, C)')
    ndim = len(shapes[0])
    found = None
    if len(shapes) > 1:
        varying = [d for d in range(1, ndim) if len({s[d] for s in shapes}) > 1]
        if ndim == 4 and varying == [2, 3]:
            found = 'NCHW'
        elif ndim == 4 and varying == [1, 2]:
            found = 'NHWC'
        elif ndim == 3 and varying == [1]:
            found = 'NLC'
        how = (f'the dimensions that change with the input ({varying}) are not those of '
               f"'NCHW' ([2, 3]), 'NHWC' ([1, 2]) or 'NLC' ([1])")
    else:  # one probe size (a model that accepts only its own input size)
        size, s = record['sizes'][0], shapes[0]
        if ndim == 4:
            fits = [name for name, (a, b) in (('NCHW', (2, 3)), ('NHWC', (1, 2)))
                    if _spatial(s[a], s[b], size)]
            found = fits[0] if len(fits) == 1 else None
        elif ndim == 3:
            found = 'NLC'
        how = (f'with one probe size {size}, the map fits NCHW and NHWC alike, or neither '
               f'(expected dimensions of about H/s x W/s for one stride s)')
    if found is None:
        raise ConfigError(
            f'{where}: the layout of {path!r} is ambiguous: its features have shapes {shapes} at '
            f'the probe sizes {list(record["sizes"])}, and {how}. Expected a feature map or a '
            f'token sequence; choose another path, or give layout=')
    if layout is not None and layout != found:
        raise ConfigError(f'{where}: layout={layout!r} was given for {path!r}, but its features '
                         f'({shapes} at the probe sizes) are {found!r}')
    channels = shapes[0][{'NCHW': 1, 'NHWC': 3, 'NLC': 2}[found]]
    hw_source, prefix = None, 0
    if found == 'NLC':
        hw_source, prefix = _find_grid(path, record, first, [s[1] for s in shapes], where)
    return dict(layout=found, channels=channels, index=index, hw_source=hw_source,
                prefix=prefix)


def _describe_summary(value) -> str:
    if isinstance(value, _Shape):
        return f'Tensor{tuple(value)}'
    if isinstance(value, list):
        return 'tuple(' + ', '.join(_describe_summary(v) for v in value) + ')'
    return repr(value) if isinstance(value, (tuple, int)) else str(value)


def _infer_static(path: str, module: nn.Module, index, layout, where: str, why_no_probe: str):
    if isinstance(module, _CONTAINERS):
        children = [f'{path}.{n}' for n, _ in module.named_children()][:12]
        raise ConfigError(f'{where}: {path!r} is a {type(module).__name__}, which has no forward '
                         f'of its own; expected a submodule that is called. Candidate paths: '
                         f'{", ".join(children)}')
    channels, static_layout, source = _static_channels(module)
    if channels is None:
        raise ConfigError(
            f"{where}: in_channels of the plugin after {path!r} cannot be inferred: the dry run "
            f"failed ({why_no_probe}) and the module has {source}. Expected in_channels in the "
            f"plugin cfg, or probe=dict(in_channels=...) for a model that takes an image")
    layout = layout or static_layout
    if layout is None:
        raise ConfigError(
            f"{where}: the layout after {path!r} is ambiguous: its channels come from {source}, "
            f"which fits 'NLC' and 'NHWC' alike, and the dry run failed ({why_no_probe}). "
            f"Expected layout='NLC' or layout='NHWC' in the plugin entry")
    if layout == 'NLC':
        raise ConfigError(f"{where}: layout='NLC' after {path!r} needs the dry run to find where "
                         f"(H, W) comes from, and it failed ({why_no_probe})")
    return dict(layout=layout, channels=channels, index=index, hw_source=None, prefix=0)


# --------------------------------------------------------------------------- the builder
def _attach(model: nn.Module, entries: List[dict], probe: dict, owner: str,
            registry=None) -> nn.Module:
    """Match, dry-run, build and hook the plugins of ``entries`` on ``model``, in place.

    ``owner`` names the host in messages: ``attnplug.WithPlugins(wraps=X)`` or
    ``attnplug.add_plugins(X)``. ``registry`` is where unscoped plugin types are looked up
    (default: the current default scope's, as mmcv's ``build_plugin_layer``).
    """
    if hasattr(model, PLUGINS_ATTR):
        raise ConfigError(f'{owner}: {type(model).__name__} already has an attribute '
                         f'{PLUGINS_ATTR!r} (plugins were added before); start from the model '
                         f'without plugins and list all plugins once')
    modules = dict(model.named_modules())
    # Match every pattern first: a typo fails before any dry run.
    plan = []  # (entry, path)
    for e in entries:
        where = f"{owner}: plugins[{e['k']}]"
        for pattern in e['afters']:
            for path in match_paths(model, pattern, where):
                plan.append((e, path, pattern, where))
    paths = list(dict.fromkeys(p for _, p, _, _ in plan))
    record, why = ({}, 'turned off (probe sizes empty)')
    if probe.get('sizes', DEFAULT_PROBE_SIZES):
        record, why = _probe(model, paths, probe)
    infos = {}  # path -> (info, where): one layout/index per path
    for e, path, pattern, where in plan:
        where = f'{where} (after={pattern!r})'
        if record:
            info = _infer_from_probe(path, record, e['index'], e['layout'], where)
        else:
            info = _infer_static(path, modules[path], e['index'], e['layout'], where, why)
        if path in infos and infos[path][0] != info:
            raise ConfigError(f'{where}: {path!r} already has plugins on '
                             f'{PluginSite(path, **infos[path][0]).describe()}, but this entry '
                             f'asks for {info}; plugins at one path share its layout and index')
        infos.setdefault(path, (info, where))
    tree = _PluginTree()
    for path in sorted(infos, key=lambda p: p.count('.')):  # parents before their children
        tree.add_site(PluginSite(path, **infos[path][0]))
    for e, path, pattern, where in plan:
        site = tree.site(path)
        spec, = plan_plugins([(path, e['cfg'], f"plugins[{e['k']}]['cfg']")],
                             {path: site.channels}, f'{owner} (after={pattern!r})', registry)
        if hasattr(site, spec.name):
            raise ConfigError(f'{where}: two plugins at {path!r} are both named {spec.name!r} (or '
                              f"the name is taken); give them distinct postfixes, e.g. "
                              f"cfg=dict(type=..., postfix='2')")
        site.add_plugin(*build_plugin(spec))
    model.add_module(PLUGINS_ATTR, tree)
    for site in tree.sites():
        if site.grid_module is not None:  # the grid comes from another module's call
            source = modules[site.grid_module] if site.grid_module else model
            if site.hw_source[0] == 'call':
                source.register_forward_pre_hook(site.grid_from_call, with_kwargs=True)
            else:
                source.register_forward_hook(site.grid_from_output, with_kwargs=True)
        modules[site.path].register_forward_hook(site.hook, with_kwargs=True)
    return model


# --------------------------------------------------------------------------- the builders
@MODELS.register_module()
def WithPlugins(wraps, plugins, probe: Optional[dict] = None, probe_sizes=None,
                **kwargs) -> nn.Module:  # noqa: N802
    """Build ``wraps`` with ``**kwargs`` and run attnplug plugins after its submodules.

    Args:
        wraps (str | type): The type that would have been built: a name in the current default
            scope (``'MixVisionTransformer'``) or a scoped one (``'mmseg.X'``, ``'mmdet.X'``,
            ``'mmpretrain.X'``).
        plugins (list[dict]): ``dict(cfg=dict(type=...), after=PATTERN, layout=None,
            index=None)``. ``after`` is a dotted path of ``named_modules()`` with glob patterns
            (``*``, ``?``, ``[1-3]`` within a component, ``**`` across components), or a list of
            them; each must match. ``layout`` is ``'NCHW'``, ``'NHWC'``, ``'NLC'`` or None
            (detected). ``index`` picks the element of a tuple/list output. Several plugins at
            one path run in config order; give them distinct ``postfix`` in ``cfg`` when they
            share a type.
        probe (dict, optional): The dry run: ``in_channels`` of the zero image (default: the
            model's ``in_channels``, else 3, else its first conv's) and ``sizes`` (default
            ((64, 96), (96, 128)); without it, the size the model declares is tried next).
            ``probe=dict(sizes=())`` turns it off (static inference). ``inputs``: a function
            ``(H, W) -> args`` for a forward that does not take one image (a neck's maps).
        probe_sizes (list[tuple], optional): Shorthand for ``probe=dict(sizes=...)``.
        **kwargs: Everything else goes to ``wraps`` unchanged.

    Returns:
        nn.Module: an instance of (a subclass of) the wrapped class, with the plugins under
        ``attnplug_plugins``.
    """
    base = _resolve_wraps(wraps)
    entries = _check_entries(plugins)
    probe = _check_probe(probe, probe_sizes, 'attnplug.WithPlugins')
    model = _subclass(base)(**kwargs)
    return _attach(model, entries, probe, f'attnplug.WithPlugins(wraps={base.__name__})')


def add_plugins(model: nn.Module, plugins: Sequence[dict], probe: Optional[dict] = None,
                probe_sizes=None) -> nn.Module:
    """Run attnplug plugins after submodules of any ``nn.Module``, in place.

    The machinery of :func:`WithPlugins` for a model that no registry builds (a hand-written
    PyTorch model, a torchvision or timm one, a model of another framework)::

        model = attnplug.add_plugins(MyNet(), plugins=[
            dict(cfg=dict(type='CBAM'), after='layer3.*')])

    The model keeps its class (``type(model)`` is unchanged) and every state-dict key; the
    plugins are added under ``model.attnplug_plugins`` and run from forward hooks on the
    matched submodules, so ``copy.deepcopy``, ``pickle``, ONNX export (``dynamo=True``) and
    ``torch.compile`` see ordinary module calls. A plain ``type`` (``'CBAM'``) is looked up in
    attnplug's registry; ``'mmseg.X'``, ``'mmdet.X'`` name other scopes.

    The plugins start from their own initialisation (the identity for the residual layers).
    A model that re-initialises itself later (an mmengine ``init_weights()``) would also
    re-initialise the plugins' convs: initialise the model first, or build it with
    :func:`WithPlugins`, whose ``init_weights`` keeps them apart.

    Args:
        model (nn.Module): The model, changed in place and returned. Its ``forward`` must
            take one image (B, C, H, W) for the dry run, unless ``probe_sizes=()``.
        plugins (list[dict]): As :func:`WithPlugins`' ``plugins``.
        probe (dict, optional): As :func:`WithPlugins`' ``probe``.
        probe_sizes (list[tuple], optional): Shorthand for ``probe=dict(sizes=...)``, e.g.
            ``[(224, 224)]`` for a model that accepts only its own input size.

    Returns:
        nn.Module: ``model`` itself.
    """
    owner = f'attnplug.add_plugins({type(model).__name__})'
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f'attnplug.add_plugins: model must be an nn.Module instance, got '
                              f'{model!r}')
    entries = _check_entries(plugins, owner)
    probe = _check_probe(probe, probe_sizes, owner)
    # No config sets a default scope here: a plain name is an attnplug layer.
    return _attach(model, entries, probe, owner, registry=ATTNPLUG_MODELS)


# --------------------------------------------------------------------------- candidates
class Candidate(NamedTuple):
    """A path a plugin can follow, as the dry run found it (:func:`find_candidates`)."""
    path: str
    type: str
    layout: str
    channels: int
    index: Optional[int]
    hw_source: Optional[tuple]
    prefix: int
    shape: Tuple[int, ...]  # the feature at the first probe size

    def grid(self) -> str:
        """Where the grid of a token path comes from, in words ('' for a map)."""
        if self.layout != 'NLC':
            return ''
        site = PluginSite(self.path, self.layout, self.channels, self.index, self.hw_source,
                          self.prefix)
        return site.describe().split(', ', 2)[-1].rstrip(')') if ', H x W' in \
            site.describe() else ''


class Placement(NamedTuple):
    """A suggested ``after=`` (a pattern or a list of them) and what it selects."""
    name: str
    after: Any
    paths: List[str]


def find_candidates(model: nn.Module, probe: Optional[dict] = None
                    ) -> Tuple[List[Candidate], Tuple[Tuple[int, int], ...]]:
    """Every path of ``model`` whose output a plugin can run on, found by one dry run.

    Returns ``(candidates in call order, the probe sizes used)``. A path is a candidate when
    it is called, returns a feature map or a token sequence whose grid is found (see
    :func:`_find_grid`), or a tuple/list holding exactly one. The model itself is left out.
    """
    probe = _check_probe(probe, None, 'attnplug.find_candidates')
    record, why = _probe(model, [], probe)
    if not record:
        raise ConfigError(f'attnplug.find_candidates({type(model).__name__}): the dry run '
                         f'failed: {why}. Expected a model whose forward takes one image; give '
                         f'probe=dict(sizes=[(H, W)], in_channels=C)')
    modules = dict(model.named_modules())
    seen, found = set(), []
    for call in record['runs'][0]:
        path = call.path
        if not path or path in seen or path.startswith(PLUGINS_ATTR):
            continue
        seen.add(path)
        try:
            info = _infer_from_probe(path, record, None, None, 'find_candidates')
        except ConfigError:
            continue
        first = _calls_of(record, path)[0][0].out
        shape = tuple(first if info['index'] is None else first[info['index']])
        found.append(Candidate(path, type(modules[path]).__name__, info['layout'],
                               info['channels'], info['index'], info['hw_source'],
                               info['prefix'], shape))
    return found, record['sizes']


def _skeleton(path: str) -> str:
    """``layers.2.1.0`` -> ``layers.#.#.#``; ``layer3.1`` -> ``layer#.#``."""
    return '.'.join(re.sub(r'\d+$', '#', part) for part in path.split('.'))


def _glob_component(values: Sequence[str]) -> str:
    values = list(dict.fromkeys(values))
    if len(values) == 1:
        return values[0]
    stems = {re.sub(r'\d+$', '', v) for v in values}
    digits = [v[len(next(iter(stems))):] for v in values]
    if len(stems) == 1 and all(len(d) == 1 for d in digits):
        ds = sorted(int(d) for d in digits)
        body = (f'{ds[0]}-{ds[-1]}' if ds == list(range(ds[0], ds[-1] + 1)) else
                ''.join(map(str, ds)))
        return f'{next(iter(stems))}[{body}]'
    return next(iter(stems)) + '*' if len(stems) == 1 else '*'


def pattern_for(paths: Sequence[str], names: Sequence[str]):
    """One glob that selects exactly ``paths`` among ``names``, else the list of paths."""
    paths = list(paths)
    if len(paths) == 1:
        return paths[0]
    parts = [p.split('.') for p in paths]
    if len({len(p) for p in parts}) == 1:
        pattern = '.'.join(_glob_component([p[i] for p in parts]) for i in range(len(parts[0])))
        if {n for n in names if _match_one(pattern, n)} == set(paths):
            return pattern
    return paths


def suggest_placements(model: nn.Module, candidates: Sequence[Candidate]) -> List[Placement]:
    """``after=`` values for the usual placements: every block, every block of the stages
    after the first, the blocks of each stage, the last block of each stage, the stage outputs;
    without numbered blocks, the model's top-level parts, else the shallowest parts that hold
    layers (not ``torch.nn`` classes), else (a model of ``torch.nn`` layers only, SSDVGG) every
    numbered layer with weights of its most numerous class.

    Blocks are the most numerous group of candidates of one class that are numbered children
    of a container (``layers.2.1.0``, ``layer3.1``) and hold two or more layers with weights
    (not a ``torch.nn`` class), leaving out groups with one member per member of another group
    that holds them (a block's FFN), the deepest group on a tie, then the one called last. The
    stage is the first path component that varies among them, when it is not the block's own
    number. Where no numbered candidate holds layers (a neck's convs), the same rule picks
    numbered layers (a neck's output convs rather than its lateral ones), and the placements
    say "layer" instead of "block" ("every layer of stages 2-4").
    """
    names = [n for n, _ in model.named_modules() if n and not n.startswith(PLUGINS_ATTR)]
    modules = dict(model.named_modules())
    def grouped(composite_only):
        groups: Dict[Tuple[str, str], List[str]] = {}
        for c in candidates:
            module = modules[c.path]
            # a block holds layers; a conv or a norm does not
            composite = sum(1 for m in module.modules() if m is not module and not m._modules
                            and next(m.parameters(recurse=False), None) is not None) >= 2
            if (type(module).__module__.startswith('torch.nn') or not c.path.split('.')[-1].isdigit()
                    or (composite_only and not composite)):
                continue
            groups.setdefault((_skeleton(c.path), c.type), []).append(c.path)
        return groups
    # numbered layers of one kind (a neck's convs), where no numbered child holds layers
    groups = grouped(True)
    unit = 'block'
    if not groups:  # numbered layers that hold no layers themselves: name them as layers
        groups, unit = grouped(False), 'layer'
    if not groups:  # no numbered layers at all: the model's own parts, else their parts
        # (ICNeck: its two fusions return pairs; the branches inside them are candidates)
        top = [c.path for c in candidates if '.' not in c.path]
        if top:
            return [Placement('top-level parts', pattern_for(top, names), top)]
        composite = [c.path for c in candidates if not type(modules[c.path]).__module__
                     .startswith('torch.nn') and any(True for _ in modules[c.path].children())]
        if composite:
            depth = min(p.count('.') for p in composite)
            parts = [p for p in composite if p.count('.') == depth]
            return [Placement(f'parts at depth {depth + 1}', pattern_for(parts, names), parts)]
        # a model built of torch.nn layers only (SSDVGG's features: Conv2d, ReLU, MaxPool2d,
        # called one by one): its numbered layers with weights of the most numerous class
        layers: Dict[Tuple[str, str], List[str]] = {}
        for c in candidates:
            module = modules[c.path]
            if (c.path.split('.')[-1].isdigit()
                    and next(module.parameters(recurse=False), None) is not None):
                layers.setdefault((_skeleton(c.path), c.type), []).append(c.path)
        if not layers:
            return []
        (_, kind), paths = max(layers.items(), key=lambda kv: len(kv[1]))
        return [Placement(f'every {kind} layer', pattern_for(paths, names), paths)]
    def inside(inner, outer):  # every member of one group lies in a member of the other
        return all(any(p.startswith(q + '.') for q in outer) for p in inner)
    # a part of each block (its FFN) is not a block: one per block, nested in the blocks
    # and the layers inside a block (MobileNetV2's conv.0-2) are not blocks either: a group
    # inside another is dropped unless the outer one is a mere container (a stage, Sequential)
    def container(members):
        return isinstance(modules[members[0]], (nn.Sequential, nn.ModuleList))
    groups = {key: members for key, members in groups.items()
              if not any(inside(members, other) and (len(members) <= len(other)
                                                     or not container(other))
                         for k2, other in groups.items() if k2 != key)}
    if not groups:
        return []
    order = {c.path: i for i, c in enumerate(candidates)}
    (skeleton, _), blocks = max(groups.items(), key=lambda kv: (
        len(kv[1]), kv[0][0].count('.'), order[kv[1][-1]]))
    out = [Placement(f'every {unit}', pattern_for(blocks, names), blocks)]
    parts = [b.split('.') for b in blocks]
    varying = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    stage_at = varying[0] if varying and varying[0] != len(parts[0]) - 1 else None
    if stage_at is None:
        return out + [Placement(f'last {unit}', blocks[-1], [blocks[-1]])]
    stages: Dict[str, List[str]] = {}
    for b, p in zip(blocks, parts):
        stages.setdefault('.'.join(p[:stage_at + 1]), []).append(b)
    keys = list(stages)
    if len(keys) > 1:
        later = [b for k in keys[1:] for b in stages[k]]
        label = 'stage 2' if len(keys) == 2 else f'stages 2-{len(keys)}'
        out.append(Placement(f'every {unit} of {label}', pattern_for(later, names), later))
    for i, k in enumerate(keys):
        out.append(Placement(f'{unit}s of stage {i + 1} ({k})', pattern_for(stages[k], names),
                             stages[k]))
    lasts = [stages[k][-1] for k in keys]
    out.append(Placement(f'last {unit} of each stage', pattern_for(lasts, names), lasts))
    cand_paths = {c.path for c in candidates}
    if all(k in cand_paths for k in keys):
        out.append(Placement('stage outputs', pattern_for(keys, names), keys))
    return out
