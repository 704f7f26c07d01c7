"""The leaderboard's rows as typed values (:class:`Row`), made from the groups in memory or read
back from a ``leaderboard.csv``: the one place where the CSV's cells become values and values
become cells, so everything else reads fields, not strings.
"""
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .statistics import Group, Status, seeds_above

__all__ = ['Kind', 'MetricCell', 'Row', 'status_text', 'parse_status', 'rows_from_groups',
           'published_row', 'csv_fields', 'to_csv', 'from_csv', 'csv_metrics']

COST_KEYS = ('params_m', 'gflops', 'gflops_stock_mmengine', 'input_shape', 'ms_per_img',
             'infer_memory_mib')


class Kind(enum.Enum):
    MEASURED = 'measured'
    PUBLISHED = 'published'  # from a sourced YAML: listed apart, never ranked


#: The CSV text of each status; ``{}`` is the reason a baseline did not learn.
_STATUS_TEXT = {
    Status.IS_BASELINE: 'is baseline',
    Status.IS_BASELINE_NOT_LEARNED: 'is baseline (not learned: {})',
    Status.LEARNED: 'learned',
    Status.NOT_LEARNED: 'not learned: {}',
    Status.MISSING: 'missing',
    Status.NONE: 'none',
}


def status_text(status: Status, reason: str = '') -> str:
    return _STATUS_TEXT[status].format(reason)


def parse_status(text: str) -> Tuple[Status, str]:
    """The inverse of :func:`status_text`: ``(status, reason)``."""
    for status, fmt in _STATUS_TEXT.items():
        head, hole, tail = fmt.partition('{}')
        if not hole and text == fmt:
            return status, ''
        if hole and len(text) >= len(head) + len(tail) and text[:len(head)] == head and \
                text[len(text) - len(tail):] == tail:
            return status, text[len(head):len(text) - len(tail)]
    raise ValueError(f'leaderboard.csv: baseline_status {text!r}: expected one of '
                     f'{sorted(_STATUS_TEXT.values())}')


@dataclass
class MetricCell:
    """One metric of one row: the summary over seeds and the difference to the baseline."""
    mean: Optional[float] = None
    std: Optional[float] = None
    n: Optional[int] = None
    values: str = ''  # the seeds' values, 4 significant digits, space-separated
    diff: Optional[float] = None
    lo: Optional[float] = None
    hi: Optional[float] = None
    significant: Optional[bool] = None


@dataclass
class Row:
    name: str
    kind: Kind
    config: str = ''
    baseline: str = ''
    status: Optional[Status] = None  # None for a published row
    status_reason: str = ''
    n: Optional[int] = None
    seeds: str = ''
    #: per ``--seeds-above`` metric: ``'k/n'``
    above: Dict[str, str] = field(default_factory=dict)
    metrics: Dict[str, MetricCell] = field(default_factory=dict)
    params_m: Optional[float] = None
    gflops: Optional[float] = None
    gflops_stock_mmengine: Optional[float] = None
    input_shape: Optional[str] = None
    ms_per_img: Optional[float] = None
    time_x_baseline: Optional[float] = None
    infer_memory_mib: Optional[float] = None
    dataset: Optional[str] = None
    source: str = ''

    def cell(self, metric: str) -> MetricCell:
        return self.metrics.get(metric) or MetricCell()


def rows_from_groups(groups: Sequence[Group], metrics: Sequence[str],
                     above: Optional[Dict[str, float]] = None) -> List[Row]:
    """One measured row per group, with its costs (:attr:`Group.cost`) and the time ratio to its
    baseline's."""
    above = above or {}
    by_name = {g.name: g for g in groups}
    rows = []
    for g in groups:
        row = Row(name=g.name, kind=Kind.MEASURED, config=g.config, baseline=g.baseline or '',
                  status=g.status, status_reason=g.status_reason, n=len(g.runs),
                  seeds=' '.join(str(s) for s in g.seeds), dataset=g.dataset,
                  source='; '.join(sorted({r.source.value for r in g.runs})))
        for m, limit in above.items():
            row.above[m] = seeds_above(g.values.get(m, [None] * len(g.runs)), limit)
        for m in metrics:
            st = g.stats.get(m, {})
            row.metrics[m] = MetricCell(
                mean=st.get('mean'), std=st.get('std'), n=st.get('n'),
                values=' '.join(f'{v:.4g}' for v in g.values.get(m, []) if v is not None),
                diff=st.get('d_diff'), lo=st.get('d_lo'), hi=st.get('d_hi'),
                significant=st.get('d_significant') if st.get('d_diff') is not None else None)
        for key in COST_KEYS:
            setattr(row, key, g.cost.get(key))
        base = by_name.get(g.baseline)
        if base is not None and base.cost.get('ms_per_img') and g.cost.get('ms_per_img'):
            row.time_x_baseline = g.cost['ms_per_img'] / base.cost['ms_per_img']
        rows.append(row)
    return rows


def published_row(p: Dict[str, Any]) -> Row:
    """A row of a published-numbers entry (``load_published``)."""
    return Row(name=p['name'], kind=Kind.PUBLISHED, config=p.get('config') or '',
               source=p['source'], dataset=p.get('dataset'), params_m=p.get('params_m'),
               gflops=p.get('gflops'),
               metrics={m: MetricCell(mean=v) for m, v in p.get('metrics', {}).items()},
               ms_per_img=1e3 / p['fps'] if p.get('fps') else None)


# ----------------------------------------------------------------------------- the CSV
_CELL_KEYS = ('mean', 'std', 'n', 'values', 'diff', 'ci_lo', 'ci_hi', 'significant')
_CELL_ATTRS = ('mean', 'std', 'n', 'values', 'diff', 'lo', 'hi', 'significant')


def csv_fields(metrics: Sequence[str], above: Sequence[str] = ()) -> List[str]:
    fields = ['name', 'kind', 'config', 'baseline', 'baseline_status', 'n', 'seeds']
    fields += [f'{m}_seeds_above' for m in above]
    for m in metrics:
        fields += [f'{m}_{k}' for k in _CELL_KEYS]
    return fields + ['params_m', 'gflops', 'gflops_stock_mmengine', 'input_shape', 'ms_per_img',
                     'time_x_baseline', 'infer_memory_mib', 'dataset', 'source']


def to_csv(row: Row) -> Dict[str, Any]:
    """The row as the CSV's cells (``None`` is written empty). A published row has only the
    cells it was given."""
    if row.kind is Kind.PUBLISHED:
        d = {'name': row.name, 'kind': row.kind.value, 'config': row.config,
             'source': row.source, 'dataset': row.dataset, 'n': '',
             'params_m': row.params_m, 'gflops': row.gflops, 'ms_per_img': row.ms_per_img}
        d.update({f'{m}_mean': c.mean for m, c in row.metrics.items()})
        return d
    d = {'name': row.name, 'kind': row.kind.value, 'config': row.config,
         'baseline': row.baseline, 'baseline_status': status_text(row.status, row.status_reason),
         'n': row.n, 'seeds': row.seeds, 'dataset': row.dataset, 'source': row.source}
    d.update({f'{m}_seeds_above': v for m, v in row.above.items()})
    for m, c in row.metrics.items():
        d.update({f'{m}_{k}': getattr(c, a) for k, a in zip(_CELL_KEYS, _CELL_ATTRS)})
    for key in COST_KEYS + ('time_x_baseline', ):
        d[key] = getattr(row, key)
    return d


def csv_metrics(fields: Sequence[str]) -> List[str]:
    """The metrics of a leaderboard CSV, in its column order."""
    return [k[:-len('_mean')] for k in fields if k.endswith('_mean')]


def _float(v: str) -> Optional[float]:
    return None if v in ('', 'None') else float(v)


def _bool(v: str) -> Optional[bool]:
    return {'True': True, 'False': False}.get(v)


def from_csv(cells: Dict[str, str]) -> Row:
    """A row read back from :func:`~benchmarks.reporting.read_csv`'s strings."""
    kind = Kind(cells['kind'])
    status, reason = (parse_status(cells['baseline_status']) if kind is Kind.MEASURED
                      else (None, ''))
    row = Row(name=cells['name'], kind=kind, config=cells.get('config', ''),
              baseline=cells.get('baseline', ''), status=status, status_reason=reason,
              n=int(cells['n']) if cells.get('n') else None, seeds=cells.get('seeds', ''),
              input_shape=cells.get('input_shape') or None, dataset=cells.get('dataset') or None,
              source=cells.get('source', ''))
    row.above = {k[:-len('_seeds_above')]: v for k, v in cells.items()
                 if k.endswith('_seeds_above')}
    for m in csv_metrics(cells):
        row.metrics[m] = MetricCell(
            mean=_float(cells[f'{m}_mean']), std=_float(cells[f'{m}_std']),
            n=int(cells[f'{m}_n']) if cells[f'{m}_n'] else None, values=cells[f'{m}_values'],
            diff=_float(cells[f'{m}_diff']), lo=_float(cells[f'{m}_ci_lo']),
            hi=_float(cells[f'{m}_ci_hi']), significant=_bool(cells[f'{m}_significant']))
    for key in ('params_m', 'gflops', 'gflops_stock_mmengine', 'ms_per_img', 'time_x_baseline',
                'infer_memory_mib'):
        setattr(row, key, _float(cells.get(key, '')))
    return row
