"""Leaderboards from trained work dirs and committed run records: runs grouped by config, seeds
summarised, differences to the baseline with 95% confidence intervals, and OpenMMLab's model
index. The library behind ``tools/leaderboard.py``, in four steps:

* :mod:`.collect`: work dirs and run records to typed runs, from mmengine's JSON (no text log);
* :mod:`.statistics`: groups, summaries, Welch intervals and the baseline's
  :class:`~.statistics.Status` (learned or not, as an enum);
* :mod:`.costs`: params, FLOPs, time and memory of each group's model, built once;
* :mod:`.rows` and :mod:`.render`: typed rows, the CSV, the markdown, the plot and the model
  index, all from the same rows.

Everything in ``leaderboard.md`` and ``leaderboard.png`` can be re-rendered from
``leaderboard.csv`` alone (``tools/leaderboard.py --render``), so a doc can be checked against
the CSV (``tests/test_docs_consistency.py``). Published numbers (papers, model zoos) come only
from a YAML whose entries say ``published: true`` and give a ``source``; they are listed in
their own table and never ranked with the measured rows. Wall-clock speed is not reported: on a
shared machine it measures the other jobs.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .. import reporting
from .collect import (METRIC_KEYS, MetricSource, Run, collect_runs, expand_work_dirs,
                      find_checkpoint, find_config, load_published, name_without_seed,
                      project_config, test_metrics)
from .costs import measure_costs, time_note
from .render import _repo_relative  # noqa: F401  (tests check it)
from .render import (TASKS, delta_text, leaderboard_table, markdown,
                     metric_format, plot, read, render_markdown, render_plot, short_labels,
                     write_model_index)
from .rows import (Kind, MetricCell, Row, csv_fields, from_csv, published_row,
                   rows_from_groups, to_csv)
from .statistics import (LEARNED_THRESHOLDS, Group, Status, above_text, compare, group_runs,
                         learned, parse_above, recompute, seeds_above, summary, welch_interval)

__all__ = [
    'METRIC_KEYS', 'LEARNED_THRESHOLDS', 'TASKS', 'MetricSource', 'Run', 'Status', 'Group',
    'Kind', 'MetricCell', 'Row', 'collect_runs', 'expand_work_dirs', 'find_checkpoint',
    'find_config', 'load_published', 'name_without_seed', 'project_config', 'test_metrics',
    'summary', 'welch_interval', 'learned', 'seeds_above', 'above_text', 'parse_above',
    'group_runs', 'compare', 'recompute', 'measure_costs', 'time_note', 'rows_from_groups',
    'published_row', 'csv_fields', 'to_csv', 'from_csv', 'csv_rows', 'read', 'metric_format',
    'delta_text', 'leaderboard_table', 'markdown', 'render_markdown', 'short_labels', 'plot',
    'render_plot', 'write_model_index', 'save_csv', 'costs_from', 'write'
]


def csv_rows(groups: List[Group], metrics: Sequence[str], published: Sequence[Dict] = (),
             above: Optional[Dict[str, float]] = None) -> List[Row]:
    """The rows of a leaderboard: one per group (with its costs), then the ``published``
    entries; ``above``: per metric, a value whose per-seed exceedances are counted (``k/n``)."""
    return rows_from_groups(groups, metrics, above) + [published_row(p) for p in published]


def save_csv(path: str, rows: Sequence[Row], metrics: Sequence[str], header: Dict[str, str],
             above: Sequence[str] = ()) -> str:
    """Write ``rows`` as a ``leaderboard.csv`` (``header`` on its first line)."""
    return reporting.write_csv(path, [to_csv(r) for r in rows], csv_fields(metrics, above),
                               header)


def costs_from(csv_path: str, groups: Sequence[Group]) -> Dict[str, str]:
    """Give each group the costs its row has in an earlier ``leaderboard.csv`` (no model is
    built or timed); returns that CSV's header, which says when and where they were measured."""
    rows, header = read(csv_path)
    by_name = {r.name: r for r in rows if r.kind is Kind.MEASURED}
    for g in groups:
        r = by_name.get(g.name)
        g.cost = {} if r is None else {
            k: getattr(r, k) for k in ('params_m', 'gflops', 'gflops_stock_mmengine',
                                       'input_shape', 'ms_per_img', 'infer_memory_mib')}
    return header


def write(runs: List[Run], out_dir: str, command: str, metric: Optional[str] = None,
          baseline: Optional[str] = None, published: Sequence[Dict] = (), shape=None,
          device: str = 'cpu', do_measure: bool = True,
          thresholds: Optional[Dict[str, float]] = None,
          above: Optional[Dict[str, float]] = None,
          costs_csv: Optional[str] = None) -> List[Group]:
    """Group ``runs``, compare, measure the costs, and write ``leaderboard.csv``, ``.md``,
    ``.png``, ``metafile.yml`` and ``model-index.yml`` into ``out_dir``. ``above``: per metric,
    a value; each row then says on how many of its seeds the metric is above it (for a metric
    whose mean hides that some seeds learned and others did not). ``costs_csv``: take the costs,
    and the header that says where they were measured, from that earlier leaderboard instead of
    measuring (:func:`costs_from`). Returns the groups."""
    above = dict(above or {})
    unknown = sorted(set(above) - {k for r in runs for k in r.metrics})
    if runs and unknown:
        raise ValueError(f'leaderboard: seeds_above names {", ".join(unknown)}, which no run '
                         'has')
    started = reporting.now()
    groups, metrics = recompute(runs, metric, baseline, thresholds)
    lines = dict(metric=metrics[0] if metrics else '',
                 learned='; '.join(f'{k} > {v:g}' for k, v in
                                   (LEARNED_THRESHOLDS if thresholds is None
                                    else thresholds).items()))
    if costs_csv:
        header = costs_from(costs_csv, groups)
        header.pop('seeds_above', None)
        header.update(lines)
    else:
        costs = measure_costs([(g.runs[0].dumped_config or g.config, g.runs[0].checkpoint)
                               for g in groups], shape, device) \
            if do_measure else [{} for _ in groups]
        for g, cost in zip(groups, costs):
            g.cost = cost
        header = reporting.run_header(command, device, started, metric=lines['metric'],
                                      time=time_note(device), learned=lines['learned'])
    if above:
        header['seeds_above'] = above_text(above)
    rows = csv_rows(groups, metrics, published, above)
    save_csv(osp.join(out_dir, 'leaderboard.csv'), rows, metrics, header, list(above))
    reporting.write_text(osp.join(out_dir, 'leaderboard.md'), markdown(rows, header, metrics))
    plot(rows, header, osp.join(out_dir, 'leaderboard.png'))
    write_model_index(groups, metrics, out_dir)
    return groups

