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
``after_stage``: the backbone's own plugin slots, × stage sets) and ``after`` (dotted
module-path patterns through ``attnplug.WithPlugins``, for any backbone, e.g.
``layer3.5`` or ``layers.[1-3].1.*``). A new kind of placement is one more entry, a function
``(module, stages, value, base cfg) -> model delta``, with no change to the expansion, the
writer or the runner.
"""
import itertools
import os
import os.path as osp
import pprint
import re
from typing import Callable, Dict, List, Optional, Sequence

__all__ = ['DROP_IN_BACKBONES', 'PLACEMENTS', 'parse_stages', 'point_name', 'expand',
           'write_configs', 'read_point', 'grid_table', 'render_grid', 'write_grid']

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


def _position_delta(module: str, stages: str, position: str, cfg) -> Dict:
    """The backbone's own plugin slot: ``position`` in the blocks of the chosen stages."""
    return dict(backbone=dict(type=_backbone_type(cfg), plugins=[
        dict(cfg=dict(type=f'attnplug.{module}'), stages=parse_stages(stages),
             position=position)]))


def _after_delta(module: str, stages: str, pattern: str, cfg) -> Dict:
    """After the backbone submodules whose dotted path matches ``pattern``, through
    ``attnplug.WithPlugins`` (any backbone: the base's type moves to ``wraps``). ``stages``
    plays no part: the pattern says where."""
    btype = cfg.model.backbone.type
    if btype == 'attnplug.WithPlugins':
        raise ValueError('sweep: --after on a base whose backbone is already '
                         "'attnplug.WithPlugins': sweep its wrapped base config instead")
    return dict(backbone=dict(type='attnplug.WithPlugins', wraps=btype, plugins=[
        dict(cfg=dict(type=f'attnplug.{module}'), after=pattern)]))


#: kind -> function ``(module, stages, value, base cfg) -> model delta``
PLACEMENTS: Dict[str, Callable[..., Dict]] = {'position': _position_delta,
                                              'after': _after_delta}

#: Placement kinds whose grid has a stages dimension.
STAGED = ('position', )


def point_name(base_name: str, module: str, stages: str, kind: str, value: str) -> str:
    """``<base>_<module>-s<stages>-<value>`` (``<base>_<module>-after-<pattern>`` for a
    module-path pattern): one name per grid point."""
    safe = ''.join(c if c.isalnum() or c == '_' else '-' for c in value).strip('-')
    if kind not in STAGED:
        return f'{base_name}_{module.lower()}-{kind}-{safe}'
    return f'{base_name}_{module.lower()}-s{stages}-{safe}'


def _backbone_type(cfg) -> str:
    from attnplug.analysis.build import config_scope
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
    n_stages = len(cfg.model.backbone.get('stage_blocks') or
                   cfg.model.backbone.get('strides') or (0, 0, 0, 0))
    for m in modules:
        if m not in MODELS:
            raise ValueError(f'sweep: module {m!r} is not registered in attnplug '
                             f'(type="attnplug.{m}")')
    for s in stages if any(k in STAGED for k in placements) else ():
        if len(parse_stages(s)) != n_stages:
            raise ValueError(f'sweep: stages {s!r} has {len(s)} entries; the base backbone '
                             f'has {n_stages} stages')
    base_name = osp.splitext(osp.basename(base_config))[0]
    points = []
    for kind, values in placements.items():
        if kind not in PLACEMENTS:
            raise ValueError(f'sweep: unknown placement kind {kind!r}; expected one of '
                             f'{sorted(PLACEMENTS)}')
        if kind in STAGED and not stages:
            raise ValueError(f'sweep: {kind} placements need --stages')
        for m, s, v in itertools.product(modules, stages if kind in STAGED else ('-', ), values):
            points.append(dict(name=point_name(base_name, m, s, kind, v), module=m, stages=s,
                               kind=kind, value=v, delta=PLACEMENTS[kind](m, s, v, cfg)))
    return points


_POINT_LINE = '# sweep point: {module} in stages {stages}, {kind}={value}'
_POINT_RE = re.compile(r'^# sweep point: (?P<module>\S+) in stages (?P<stages>\S+), '
                       r'(?P<kind>\w+)=(?P<value>.+?) \(written by tools/sweep\.py\)$')


def write_configs(base_config: str, points: List[Dict], out_dir: str) -> List[str]:
    """Write one delta config per grid point into ``out_dir``; returns their paths. Each names
    its base by a path relative to ``out_dir``, so a sweep's configs can be committed and
    moved with the repository."""
    os.makedirs(out_dir, exist_ok=True)
    base = osp.relpath(osp.abspath(base_config), osp.abspath(out_dir))
    paths = []
    for p in points:
        path = osp.join(out_dir, p['name'] + '.py')
        with open(path, 'w') as f:
            f.write(f"{_POINT_LINE.format(**p)} (written by tools/sweep.py)\n"
                    f"_base_ = ['{base}']\n"
                    f"model = {pprint.pformat(p['delta'], width=95, sort_dicts=False)}\n")
        paths.append(path)
    return paths


def read_point(config: str) -> Optional[Dict[str, str]]:
    """The grid point a delta config was written for (``module``, ``stages``, ``kind``,
    ``value``), read from its first line; ``None`` for a config :func:`write_configs` did not
    write (the sweep's base)."""
    from .paths import ROOT
    path = config if osp.isabs(config) else osp.join(ROOT, config)
    with open(path) as f:
        match = _POINT_RE.match(f.readline().rstrip('\n'))
    return match.groupdict() if match else None


def grid_table(rows, metric: str) -> List[str]:
    """The sweep's measured leaderboard rows (:class:`benchmarks.leaderboard.Row`) pivoted into
    the grid: one line per module (and stage set), one column per placement, each cell the mean
    over seeds and its difference to the base with the 95% interval, **bold** where the interval
    excludes 0 and *n.s.* where it contains 0."""
    from . import reporting
    from .leaderboard import delta_text, metric_format

    def num(v):
        return metric_format(metric).format(v)

    base = [r for r in rows if r.status.is_baseline]
    if len(base) != 1:
        raise ValueError(f'sweep grid: expected one base row in the leaderboard, found '
                         f'{len(base)}')
    cells, lines, columns = {}, [], []
    for r in rows:
        if r is base[0]:
            continue
        point = read_point(r.config)
        if point is None:
            raise ValueError(f'sweep grid: row {r.name!r}: its config {r.config} was not '
                             'written by tools/sweep.py (no "# sweep point:" first line)')
        line = (point['module'], point['stages'] if point['kind'] in STAGED else '—')
        column = f'{point["kind"]}={point["value"]}'
        lines += [line] if line not in lines else []
        columns += [column] if column not in columns else []
        cells[line, column] = f'{num(r.cell(metric).mean)} ({delta_text(r, metric)})'
    table = [list(ln) + [cells.get((ln, c), '—') for c in columns] for ln in lines]
    b = base[0].cell(metric)
    return [f'Base: `{base[0].name}`, {metric} {num(b.mean)}'
            + (f' ± {num(b.std)}' if b.std is not None else '')
            + f' (n = {base[0].n}). Each cell: {metric}, the mean over seeds (Δ to the base '
            '[95% Welch interval]).', ''] + \
        reporting.markdown_table(['module', 'stages'] + columns, table, 'l' * (2 + len(columns)))


def render_grid(csv_path: str, metric: Optional[str] = None) -> List[str]:
    """:func:`grid_table` of a sweep leaderboard's CSV on ``metric`` (default: its main
    metric)."""
    from .leaderboard import Kind, read
    rows, header = read(csv_path)
    return grid_table([r for r in rows if r.kind is Kind.MEASURED],
                      metric or header.get('metric', ''))


def write_grid(out_dir: str, metrics: Sequence[str] = ()) -> str:
    """``<out_dir>/grid.md``: the grid of the sweep leaderboard in ``out_dir`` on its main
    metric, then on each of ``metrics`` it also has, under the leaderboard's date, device and
    command. Returns the path."""
    from . import reporting
    from .leaderboard import read
    csv_path = osp.join(out_dir, 'leaderboard.csv')
    rows, header = read(csv_path)
    lines = ['# Placement grid', '', '<!-- Written by tools/sweep.py from leaderboard.csv; '
             'rerun it rather than editing. -->', ''] + reporting.header_markdown(header)
    main = header.get('metric', '')
    for m in [main] + [m for m in metrics if m != main and rows and m in rows[0].metrics]:
        lines += ['', f'## {m}', ''] + render_grid(csv_path, m)
    return reporting.write_text(osp.join(out_dir, 'grid.md'), lines)
