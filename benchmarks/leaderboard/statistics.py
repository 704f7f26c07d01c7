"""Runs grouped per config, seeds summarised, differences to the baseline with 95% intervals,
and whether the baseline learned -- as typed values (:class:`Group`, :class:`Status`).

Per group and metric: the mean, the sample standard deviation (``ddof=1``) and ``n``. Against
the group's baseline: the difference of the means with a Welch t interval (unequal variances,
Welch–Satterthwaite degrees of freedom, :func:`welch_interval`). An interval that contains 0 is
*not significant*; so is any comparison with ``n < 2`` on either side (no interval).

A baseline has to have learned on every seed before anything is ranked against it
(:func:`learned`): a baseline that did not learn makes every difference to it meaningless, so
its group gets :attr:`Status.NOT_LEARNED` and no difference, interval or ranking.
"""
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..bundled import LEARNED_THRESHOLDS
from .collect import METRIC_KEYS, Run

__all__ = ['LEARNED_THRESHOLDS', 'Status', 'Group', 'summary', 'welch_interval', 'learned',
           'seeds_above', 'above_text', 'parse_above', 'group_runs', 'compare', 'recompute']


class Status(enum.Enum):
    """A group's standing against its baseline (the CSV's ``baseline_status``, with the reason
    a baseline did not learn, :attr:`Group.status_reason`)."""
    IS_BASELINE = 'is baseline'
    IS_BASELINE_NOT_LEARNED = 'is baseline (not learned)'
    LEARNED = 'learned'  # its baseline learned: compared
    NOT_LEARNED = 'not learned'  # its baseline did not learn: not compared
    MISSING = 'missing'  # its baseline is not among the groups
    NONE = 'none'  # no baseline named (or no metric at all)

    @property
    def is_baseline(self) -> bool:
        return self in (Status.IS_BASELINE, Status.IS_BASELINE_NOT_LEARNED)

    @property
    def baseline_failed(self) -> bool:
        """The group's baseline did not learn: nothing is compared or ranked against it."""
        return self is Status.NOT_LEARNED


@dataclass
class Group:
    """The runs of one config (one per seed) and what is computed from them."""
    name: str
    config: Optional[str]
    scope: str
    dataset: Optional[str]
    baseline: Optional[str]
    runs: List[Run] = field(default_factory=list)
    seeds: List[Optional[int]] = field(default_factory=list)
    #: per metric, the values of the runs in seed order (None where a run lacks it)
    values: Dict[str, List[Optional[float]]] = field(default_factory=dict)
    #: per metric: ``mean``, ``std``, ``n`` and, against the baseline, ``d_diff``, ``d_lo``,
    #: ``d_hi``, ``d_dof``, ``d_significant``
    stats: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    status: Status = Status.NONE
    #: why the baseline did not learn (with :attr:`Status.NOT_LEARNED` and
    #: :attr:`Status.IS_BASELINE_NOT_LEARNED`)
    status_reason: str = ''
    #: params, FLOPs, time and memory of the group's model (empty when not measured)
    cost: Dict[str, Any] = field(default_factory=dict)


def summary(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """``mean``, ``std`` (sample, ddof=1; None for one value) and ``n``."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if not n:
        return {'mean': None, 'std': None, 'n': 0}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean)**2 for v in vals) / (n - 1)) if n > 1 else None
    return {'mean': mean, 'std': std, 'n': n}


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95
                   ) -> Dict[str, Optional[float]]:
    """Difference of means ``mean(a) - mean(b)`` with Welch's t interval.

    Returns:
        dict: ``diff``, ``lo``, ``hi``, ``dof`` and ``significant`` (the interval excludes
        0). With fewer than 2 values on a side there is no interval: ``lo``/``hi`` are None
        and ``significant`` is False. Two samples without spread give a zero-width interval.
    """
    from scipy import stats
    sa, sb = summary(a), summary(b)
    if not sa['n'] or not sb['n']:
        return {'diff': None, 'lo': None, 'hi': None, 'dof': None, 'significant': False}
    diff = sa['mean'] - sb['mean']
    if sa['n'] < 2 or sb['n'] < 2:
        return {'diff': diff, 'lo': None, 'hi': None, 'dof': None, 'significant': False}
    va, vb = sa['std']**2 / sa['n'], sb['std']**2 / sb['n']
    se = math.sqrt(va + vb)
    if se == 0:
        return {'diff': diff, 'lo': diff, 'hi': diff, 'dof': None, 'significant': diff != 0}
    dof = (va + vb)**2 / (va**2 / (sa['n'] - 1) + vb**2 / (sb['n'] - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    lo, hi = diff - half, diff + half
    return {'diff': diff, 'lo': lo, 'hi': hi, 'dof': dof, 'significant': lo > 0 or hi < 0}


def learned(values: Sequence[float], metric: str,
            thresholds: Optional[Dict[str, float]] = None) -> Tuple[bool, str]:
    """Whether a baseline learned on every seed: each value above the metric's threshold
    (:data:`LEARNED_THRESHOLDS`; a metric without one counts as learned). Returns
    ``(ok, reason)``."""
    thresholds = LEARNED_THRESHOLDS if thresholds is None else thresholds
    limit = thresholds.get(metric)
    if limit is None:
        return True, f'no learning threshold for {metric}'
    if not values:
        return False, f'no {metric} at all'
    failed = [v for v in values if v is None or not v > limit]
    if failed:
        return False, (f'{len(failed)} of {len(values)} seed(s) at or below the learning '
                       f'threshold {metric} > {limit:g} '
                       f'({", ".join("missing" if v is None else f"{v:g}" for v in failed)})')
    return True, f'every seed above {metric} > {limit:g}'


def seeds_above(values: Sequence[Optional[float]], limit: float) -> str:
    """``'k/n'``: how many of the ``n`` seeds' values are above ``limit`` (a missing value
    counts as not above)."""
    return f'{sum(1 for v in values if v is not None and v > limit)}/{len(values)}'


def above_text(above: Dict[str, float]) -> str:
    """The header line of ``--seeds-above``: ``'cue_classes_mIoU > 37.09'`` (``; ``-joined)."""
    return '; '.join(f'{m} > {v:g}' for m, v in above.items())


def parse_above(text: str) -> Dict[str, float]:
    """The inverse of :func:`above_text` (``{}`` for an empty line)."""
    out = {}
    for part in filter(None, (p.strip() for p in (text or '').split(';'))):
        metric, sep, value = part.rpartition(' > ')
        if not sep:
            raise ValueError(f'seeds_above: {part!r}: expected "METRIC > VALUE"')
        out[metric] = float(value)
    return out


def group_runs(runs: List[Run], baseline: Optional[str] = None) -> List[Group]:
    """Groups of runs of one config (by ``name``), in first-seen order. A group's baseline is
    ``baseline`` (a name) when given, else what its runs' ``run.json`` named, else none."""
    groups: Dict[str, Group] = {}
    for run in runs:
        g = groups.setdefault(run.name, Group(
            name=run.name, config=run.config, scope=run.scope, dataset=run.dataset,
            baseline=baseline or run.baseline))
        g.runs.append(run)
    for g in groups.values():
        g.runs.sort(key=lambda r: (r.seed is None, r.seed))
        g.seeds = [r.seed for r in g.runs]
        keys = sorted({k for r in g.runs for k in r.metrics})
        g.values = {k: [r.metrics.get(k) for r in g.runs] for k in keys}
    return list(groups.values())


def compare(groups: List[Group], metrics: Sequence[str],
            thresholds: Optional[Dict[str, float]] = None) -> None:
    """Fill each group's ``stats`` (per metric: summary, and against its baseline the Welch
    difference), ``status`` and ``status_reason``, in place. The learning check is made on the
    first of ``metrics`` (the ranking metric)."""
    by_name = {g.name: g for g in groups}
    for g in groups:
        g.stats = {m: summary(g.values.get(m, [])) for m in g.values}
        if not metrics:
            g.status = Status.NONE
            continue
        base = by_name.get(g.baseline) if g.baseline else None
        if g.baseline == g.name:
            ok, why = learned(g.values.get(metrics[0], []), metrics[0], thresholds)
            g.status = Status.IS_BASELINE if ok else Status.IS_BASELINE_NOT_LEARNED
            g.status_reason = '' if ok else why
            continue
        if base is None:
            g.status = Status.MISSING if g.baseline else Status.NONE
            continue
        ok, why = learned(base.values.get(metrics[0], []), metrics[0], thresholds)
        g.status = Status.LEARNED if ok else Status.NOT_LEARNED
        g.status_reason = '' if ok else why
        if not ok:
            continue
        for m in g.stats:
            if m in base.values:
                g.stats[m].update(
                    {f'd_{k}': v for k, v in welch_interval(g.values[m],
                                                            base.values[m]).items()})


def metric_order(groups: List[Group], wanted: Optional[str]) -> List[str]:
    """Every metric of the groups, ``wanted`` (default: the first of :data:`METRIC_KEYS` they
    have) first."""
    keys = sorted({k for g in groups for k in g.values})
    first = wanted or next((k for k in METRIC_KEYS if k in keys), keys[0] if keys else None)
    return ([first] if first else []) + [k for k in keys if k != first]


def recompute(runs: List[Run], metric: Optional[str] = None, baseline: Optional[str] = None,
              thresholds: Optional[Dict[str, float]] = None) -> Tuple[List[Group], List[str]]:
    """The statistics of a leaderboard, without measuring anything: ``runs`` grouped
    (:func:`group_runs`) and compared with their baselines (:func:`compare`) on every metric,
    ``metric`` first. Returns ``(groups, metrics)``."""
    groups = group_runs(runs, baseline)
    metrics = metric_order(groups, metric)
    compare(groups, metrics, thresholds)
    return groups, metrics
