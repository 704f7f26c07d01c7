"""The leaderboard's markdown, plot and model index, from typed rows (:class:`~.rows.Row`).

The same functions render a leaderboard being written (rows made from the groups in memory)
and one re-rendered from its committed ``leaderboard.csv`` (rows read back once,
:func:`read`), so a doc block and the file it quotes cannot drift apart
(``tests/test_docs_consistency.py``).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from .. import reporting
from ..paths import ROOT
from .rows import Kind, Row, from_csv
from .statistics import Group, Status, parse_above

__all__ = ['TASKS', 'read', 'metric_format', 'delta_text', 'leaderboard_table',
           'markdown', 'render_markdown', 'short_labels', 'plot', 'render_plot',
           'write_model_index']

TASKS = {'mmseg': 'Semantic Segmentation', 'mmdet': 'Object Detection'}


def read(csv_path: str) -> Tuple[List[Row], Dict[str, str]]:
    """The rows and header of a ``leaderboard.csv``."""
    cells, header = reporting.read_csv(csv_path)
    return [from_csv(c) for c in cells], header


def _num(v: Optional[float], fmt: str = '{:.2f}') -> str:
    return '—' if v is None else fmt.format(float(v))


def metric_format(metric: str) -> str:
    """The format of ``metric``'s values in the tables: 3 decimals for a mAP, else 2."""
    return '{:.3f}' if metric.endswith('mAP') else '{:.2f}'


def _order(measured: List[Row], metric: str) -> List[Row]:
    """By the metric's mean, best first; in the given order when some baseline did not learn
    (nothing is ranked then)."""
    if any(r.status.baseline_failed for r in measured):
        return list(measured)
    def mean(r):
        m = r.cell(metric).mean
        return -1e9 if m is None else m
    return sorted(measured, key=lambda r: -mean(r))


def delta_text(r: Row, metric: str) -> str:
    """A measured row's difference to its baseline on ``metric``, as the tables show it:
    ``**+1.20** [0.30, 2.10]`` (the 95% interval excludes 0), ``+0.40 [-0.50, 1.30] *n.s.*``,
    or why there is none (``baseline``, not compared, no interval)."""
    fmt = metric_format(metric)
    c = r.cell(metric)
    if r.status.is_baseline:
        return 'baseline'
    if r.status.baseline_failed:
        return 'not compared (baseline did not learn)'
    if c.diff is None:
        return '—' if r.status in (Status.NONE, Status.MISSING) else 'n.s. (no interval)'
    d = fmt.replace(':', ':+').format(c.diff)
    if c.lo is None:
        return f'{d}, *n.s.* (no interval: n < 2)'
    ci = f'[{fmt.format(c.lo)}, {fmt.format(c.hi)}]'
    return f'**{d}** {ci}' if c.significant else f'{d} {ci} *n.s.*'


def leaderboard_table(rows: List[Row], metric: str,
                      above: Optional[Dict[str, float]] = None) -> List[str]:
    """The main table of measured rows, ordered by :func:`_order`; ``above`` (the header's
    ``seeds_above``, :func:`~.statistics.parse_above`) adds a column per metric: the seeds
    above its value, ``k/n``."""
    fmt = metric_format(metric)
    above = above or {}
    cols = ['model', 'n', f'{metric} (mean ± std)', 'Δ vs baseline [95% CI]',
            *(f'seeds with {m} > {v:g}' for m, v in above.items()), 'params (M)',
            'GFLOPs', 'input', 'CPU ms/img', '× baseline time', 'infer. mem (MiB)']
    table = []
    for r in _order(rows, metric):
        c = r.cell(metric)
        value = _num(c.mean, fmt) + (f' ± {_num(c.std, fmt)}' if c.std is not None else '')
        table.append([r.name, '' if r.n is None else r.n, value, delta_text(r, metric),
                      *(r.above.get(m) or '—' for m in above),
                      _num(r.params_m), _num(r.gflops), r.input_shape or '—',
                      _num(r.ms_per_img, '{:.0f}'), _num(r.time_x_baseline),
                      _num(r.infer_memory_mib, '{:.0f}')])
    return reporting.markdown_table(cols, table, 'lrrl' + 'r' * len(above) + 'rrlrrr')


def markdown(rows: List[Row], header: Dict[str, str], metrics: Sequence[str],
             title: str = 'Leaderboard') -> List[str]:
    """The markdown of a leaderboard: ``metrics`` in the CSV's order, the header's first."""
    metric = header.get('metric', '')
    measured = [r for r in rows if r.kind is Kind.MEASURED]
    published = [r for r in rows if r.kind is Kind.PUBLISHED]
    fmt = metric_format(metric)
    lines = [f'# {title}', '', '<!-- Written by tools/leaderboard.py from leaderboard.csv; '
             'rerun it rather than editing. -->', '']
    lines += reporting.header_markdown(header)
    lines += ['', f'Each measured row is one config over its seeds: {metric} as mean ± std '
              '(n seeds). Δ is the difference of the means to the baseline with a 95% Welch t '
              'interval; **bold** marks a difference whose interval excludes 0, *n.s.* one whose '
              'interval contains 0 (or that has fewer than 2 seeds on a side: no interval). '
              'Params and FLOPs are of the inference model (mmseg\'s auxiliary head left out; '
              'FLOPs count one multiply-add as one FLOP, attention included). Time: as the '
              '`time` line above says, with its ratio to the baseline\'s in the same run.', '']
    if 'bbox' in metric or 'segm' in metric:
        lines += ['A detector\'s FLOPs, time and memory are measured with its trained weights '
                  '(its first seed\'s checkpoint, where that work dir is still there; random '
                  'weights otherwise) and depend on how many proposals and boxes those weights '
                  'keep, so they differ between detectors whose plugins cost almost nothing.',
                  '']
    blocked = sorted({r.baseline for r in measured if r.status.baseline_failed})
    for b in blocked:
        why = next(r.status_reason for r in measured
                   if r.baseline == b and r.status.baseline_failed)
        lines += [f'> **The baseline `{b}` did not learn** ({why}). '
                  'Nothing is ranked against it: its group shows no differences.', '']
    single = [r.name for r in measured if r.n and r.n < 2]
    if single:
        lines += [f'> **{len(single)} of {len(measured)} rows come from a single seed**: they '
                  'have no standard deviation and no interval, and nothing about them is '
                  'significant.', '']
    above = parse_above(header.get('seeds_above', ''))
    if above:
        lines += [f'`seeds with M > V`: on how many of its seeds the metric M is above V (the '
                  '`seeds_above` line): a mean and its interval cannot show that some seeds '
                  'learned and others did not.', '']
    order = _order(measured, metric)
    lines += leaderboard_table(order, metric, above)
    others = [m for m in metrics if m != metric] if rows else []
    if others and measured:
        lines += ['', 'Other metrics (mean ± std; Δ to the baseline, **bold** where the 95% '
                  'interval excludes 0):', '']
        table = []
        for r in order:
            cells = [r.name]
            for m in others:
                f, c = metric_format(m), r.cell(m)
                cell = _num(c.mean, f)
                if c.std is not None:
                    cell += f' ± {_num(c.std, f)}'
                if c.diff is not None:
                    d = f.replace(':', ':+').format(c.diff)
                    cell += f' (**{d}**)' if c.significant else f' ({d})'
                cells.append(cell)
            table.append(cells)
        lines += reporting.markdown_table(['model'] + others, table, 'l' + 'r' * len(others))
    if published:
        lines += ['', '## Published reference (not measured here, never ranked with the rows '
                  'above)', '']
        table = [[r.name, _num(r.cell(metric).mean, fmt), _num(r.params_m), _num(r.gflops),
                  r.source] for r in published]
        lines += reporting.markdown_table(['model', metric, 'params (M)', 'GFLOPs', 'source'],
                                          table, 'lrrrl')
    return lines


def render_markdown(csv_path: str, title: str = 'Leaderboard') -> List[str]:
    """The markdown of a leaderboard, from its CSV alone."""
    cells, header = reporting.read_csv(csv_path)
    metrics = [k[:-len('_mean')] for k in (cells[0] if cells else {}) if k.endswith('_mean')]
    return markdown([from_csv(c) for c in cells], header, metrics, title)


def short_labels(names: List[str]) -> List[str]:
    """The names without the prefix and suffix they all share (e.g. ``faster-rcnn_r18`` and
    ``_fpn_300iter_coco-bundled``); a name that is nothing but those stays whole."""
    if len(names) < 2:
        return list(names)
    prefix = osp.commonprefix(names)
    suffix = osp.commonprefix([n[::-1] for n in names])[::-1]
    out = []
    for n in names:
        core = n[len(prefix):len(n) - len(suffix)] if len(prefix) + len(suffix) < len(n) else ''
        out.append(core.strip('-_') or n)
    return out


def _plot_kind(r: Row, metric: str) -> str:
    c = r.cell(metric)
    if r.kind is Kind.PUBLISHED:
        return 'published'
    if r.status.is_baseline:
        return 'baseline'
    if c.diff is None or r.status is not Status.LEARNED:
        return 'not compared' if r.status is not Status.LEARNED else 'n.s.'
    if c.significant:
        return 'better' if c.diff > 0 else 'worse'
    return 'n.s.'


def plot(rows: List[Row], header: Dict[str, str], path: str) -> str:
    """Metric (mean, error bar ± std) against GFLOPs: black the baseline, green / red a
    difference whose 95% interval excludes 0 (better / worse), grey not significant, hollow
    published rows."""
    metric = header.get('metric', '')
    plt = reporting.pyplot()
    pts = [r for r in rows if r.gflops is not None and r.cell(metric).mean is not None]
    labels = short_labels([r.name for r in pts])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = {'baseline': 'black', 'better': '#2ca02c', 'worse': '#d62728',
               'n.s.': '#9a9a9a', 'not compared': '#1f77b4'}
    used = set()
    for r, label in zip(pts, labels):
        x, y = r.gflops, r.cell(metric).mean
        err = r.cell(metric).std or 0.
        kind = _plot_kind(r, metric)
        used.add(kind)
        colour = colours.get(kind, '#1f77b4')
        ax.errorbar(x, y, yerr=err, fmt='none', ecolor=colour, elinewidth=1, capsize=2)
        ax.scatter(x, y, s=30 + 8 * (1 if r.params_m is None else r.params_m),
                   facecolors='none' if kind == 'published' else colour, edgecolors=colour)
        ax.annotate(label, (x, y), fontsize=7, xytext=(5, 4), textcoords='offset points')
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker='o', linestyle='', color=colours.get(k, '#1f77b4'),
                      markerfacecolor='none' if k == 'published' else colours.get(k, '#1f77b4'),
                      label={'better': 'better, 95% CI excludes 0',
                             'worse': 'worse, 95% CI excludes 0',
                             'n.s.': 'not significant'}.get(k, k))
               for k in ('baseline', 'better', 'worse', 'n.s.', 'not compared', 'published')
               if k in used]
    if handles:
        ax.legend(handles=handles, fontsize=7, loc='best')
    ax.set_xlabel('GFLOPs (attention counted, 1 MAC = 1 FLOP)')
    ax.set_ylabel(f'{metric} (mean ± std over seeds)')
    ax.set_title(f'{header.get("date", "")}, {header.get("device", "")}', fontsize=8)
    if not pts:
        ax.text(0.5, 0.5, 'no rows with FLOPs and a metric', ha='center',
                transform=ax.transAxes)
    fig.tight_layout()
    return reporting.save_figure(fig, path)


def render_plot(csv_path: str, path: str) -> str:
    """:func:`plot` of a leaderboard's CSV."""
    rows, header = read(csv_path)
    return plot(rows, header, path)


def _repo_relative(path: Optional[str]) -> Optional[str]:
    """A path inside this repository as a path from its root (metafiles are read from there);
    anything else unchanged."""
    if not path:
        return path
    rel = osp.relpath(osp.abspath(path), ROOT)
    return path if rel.startswith('..') else rel


def write_model_index(groups: Sequence[Group], metrics: Sequence[str], out_dir: str) -> None:
    """OpenMMLab's model-index format (``Collections`` / ``Models`` in a metafile), with the
    mean of each metric over the seeds; published rows are not models of this project."""
    import yaml
    models = []
    for g in groups:
        meta = {'Seeds': g.seeds}
        if g.cost.get('params_m') is not None:
            meta['Parameters'] = int(round(g.cost['params_m'] * 1e6))
            meta['FLOPs'] = int(round(g.cost['gflops'] * 1e9))
        models.append({
            'Name': g.name, 'In Collection': 'attnplug', 'Config': _repo_relative(g.config),
            'Metadata': meta,
            'Results': [{'Task': TASKS.get(g.scope, g.scope),
                         'Dataset': g.dataset or 'bundled',
                         'Metrics': {m: round(g.stats[m]['mean'], 4) for m in metrics
                                     if g.stats.get(m, {}).get('mean') is not None}}],
            'Weights': _repo_relative(g.runs[0].checkpoint),
        })
    metafile = {'Collections': [{'Name': 'attnplug',
                                 'Metadata': {'Training Data': 'see each model'},
                                 'README': 'docs/benchmarks/README.md'}],
                'Models': models}
    with open(osp.join(out_dir, 'metafile.yml'), 'w') as f:
        yaml.safe_dump(metafile, f, sort_keys=False, allow_unicode=True)
    with open(osp.join(out_dir, 'model-index.yml'), 'w') as f:
        yaml.safe_dump({'Import': ['metafile.yml']}, f, sort_keys=False)
