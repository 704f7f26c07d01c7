"""Placement sweeps: one base config, a grid of module × stages × position, written as deltas.

The library behind ``tools/sweep.py``. Each grid point becomes a short config that inherits
the base and changes only the backbone::

    _base_ = ['<BASE_CONFIG>']
    model = dict(backbone=dict(type='attnplug.ResNetV1c', plugins=[
        dict(cfg=dict(type='attnplug.CBAM'), stages=(False, False, True, True),
             position='after_conv2')]))

The backbone becomes attnplug's drop-in of the base's (mmseg's ``ResNet``/``ResNetV1c``/
``ResNetV1d`` -> ``attnplug.*``, mmdet's -> ``attnplug.DetResNet``/``DetResNetV1d``), which
takes plugins in ``BasicBlock`` too.

Grid dimensions are :data:`PLACEMENTS` entries: ``position`` (``after_conv1|2|3``,
``after_stage``: the backbone's own plugin slots). A new kind of placement (for example the
``after=`` module-path patterns of a generic plugin wrapper) is one more entry, a function
``(module_type, value, backbone_type) -> model delta``, with no change to the expansion, the
writer or the runner.
"""
import itertools
import os
import os.path as osp
import pprint
from typing import Callable, Dict, List, Sequence

__all__ = ['DROP_IN_BACKBONES', 'PLACEMENTS', 'parse_stages', 'point_name', 'expand',
           'write_configs']

#: The attnplug backbone that replaces each OpenMMLab backbone type, per default scope.
DROP_IN_BACKBONES = {
    'mmseg': {'ResNet': 'attnplug.ResNet', 'ResNetV1c': 'attnplug.ResNetV1c',
              'ResNetV1d': 'attnplug.ResNetV1d'},
    'mmdet': {'ResNet': 'attnplug.DetResNet', 'ResNetV1d': 'attnplug.DetResNetV1d'},
}


def parse_stages(spec: str) -> tuple:
    """``'0011'`` -> ``(False, False, True, True)``."""
    if not spec or set(spec) - {'0', '1'}:
        raise ValueError(f'sweep: stages {spec!r}: expected a string of 0/1 per stage, e.g. '
                         "'0111' for stages 2-4 of a 4-stage ResNet")
    return tuple(c == '1' for c in spec)


def _position_delta(module: str, stages: str, position: str, backbone: str) -> Dict:
    return dict(backbone=dict(type=backbone, plugins=[
        dict(cfg=dict(type=f'attnplug.{module}'), stages=parse_stages(stages),
             position=position)]))


def _after_delta(module: str, stages: str, pattern: str, backbone: str) -> Dict:
    """Placement after the modules whose path matches ``pattern``: needs the
    ``attnplug.WithPlugins`` wrapper, not in this version."""
    from attnplug.registry import MODELS
    if 'WithPlugins' not in MODELS:
        raise ValueError('sweep: --after needs attnplug.WithPlugins (a generic plugin wrapper '
                         'around any model), which this attnplug does not register yet; use '
                         '--positions')
    raise NotImplementedError('sweep: fill _after_delta once attnplug.WithPlugins exists: '
                              'return the model delta that wraps the base model with '
                              f'after={pattern!r}')


#: kind -> (function building the model delta, short name used in config names)
PLACEMENTS: Dict[str, Callable[..., Dict]] = {'position': _position_delta,
                                              'after': _after_delta}


def point_name(base_name: str, module: str, stages: str, kind: str, value: str) -> str:
    """``<base>_<module>-s<stages>-<value>``: one name per grid point."""
    safe = ''.join(c if c.isalnum() or c == '_' else '-' for c in value).strip('-')
    return f'{base_name}_{module.lower()}-s{stages}-{safe}'


def _backbone_type(cfg) -> str:
    from .build import config_scope
    scope = config_scope(cfg)
    btype = cfg.model.backbone.type
    if btype.startswith('attnplug.'):
        return btype
    table = DROP_IN_BACKBONES[scope]
    if btype not in table:
        raise ValueError(f'sweep: base backbone type {btype!r} ({scope}) has no attnplug '
                         f'drop-in with plugins; expected one of {sorted(table)} or an '
                         "'attnplug.*' backbone")
    return table[btype]


def expand(base_config: str, modules: Sequence[str], stages: Sequence[str],
           placements: Dict[str, Sequence[str]]) -> List[Dict]:
    """The grid points: dicts with ``name``, ``module``, ``stages``, ``kind``, ``value`` and
    the ``delta`` (the model part of the config)."""
    from mmengine.config import Config

    from attnplug.registry import MODELS
    cfg = Config.fromfile(base_config)
    backbone = _backbone_type(cfg)
    n_stages = len(cfg.model.backbone.get('stage_blocks') or
                   cfg.model.backbone.get('strides') or (0, 0, 0, 0))
    for m in modules:
        if m not in MODELS:
            raise ValueError(f'sweep: module {m!r} is not registered in attnplug '
                             f'(type="attnplug.{m}")')
    for s in stages:
        if len(parse_stages(s)) != n_stages:
            raise ValueError(f'sweep: stages {s!r} has {len(s)} entries; the base backbone '
                             f'has {n_stages} stages')
    base_name = osp.splitext(osp.basename(base_config))[0]
    points = []
    for kind, values in placements.items():
        if kind not in PLACEMENTS:
            raise ValueError(f'sweep: unknown placement kind {kind!r}; expected one of '
                             f'{sorted(PLACEMENTS)}')
        for m, s, v in itertools.product(modules, stages, values):
            points.append(dict(name=point_name(base_name, m, s, kind, v), module=m, stages=s,
                               kind=kind, value=v, delta=PLACEMENTS[kind](m, s, v, backbone)))
    return points


def write_configs(base_config: str, points: List[Dict], out_dir: str) -> List[str]:
    """Write one delta config per grid point into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for p in points:
        path = osp.join(out_dir, p['name'] + '.py')
        with open(path, 'w') as f:
            f.write(f"# sweep point: {p['module']} in stages {p['stages']}, {p['kind']}="
                    f"{p['value']} (written by tools/sweep.py)\n"
                    f"_base_ = ['{osp.abspath(base_config)}']\n"
                    f"model = {pprint.pformat(p['delta'], width=95, sort_dicts=False)}\n")
        paths.append(path)
    return paths
