"""Work dirs and run records to typed runs (:class:`Run`), read from JSON only.

A work dir is what ``tools/train.py --work-dir D`` and ``tools/test.py ... --work-dir D/test``
leave, optionally with the ``run.json`` that ``tools/benchmark_learning.py`` writes (config,
seed, baseline, extra metrics such as the per-class IoU of the cue classes). A *run record* is
the ``<name>/seed<k>.json`` copy of that row which the repository commits. The metrics come
from mmengine's JSON: the record, else the newest test json (``test/<ts>/<ts>.json``), else the
last validation in ``<ts>/vis_data/scalars.json``. No text log is read.
"""
import enum
import glob
import json
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..learning import load_record, write_scheduled_config
from ..paths import ROOT

__all__ = ['METRIC_KEYS', 'MetricSource', 'Run', 'find_config', 'find_checkpoint',
           'project_config', 'test_metrics', 'collect_runs', 'load_published',
           'name_without_seed', 'expand_work_dirs']

METRIC_KEYS = ('mIoU', 'coco/bbox_mAP', 'coco/segm_mAP', 'pascal_voc/mAP', 'bbox_mAP', 'mAP',
               'aAcc')


class MetricSource(enum.Enum):
    """Where a run's metrics were read from; the value is the CSV's ``source`` word."""
    RECORD = 'record'  # a committed run record (its test metrics)
    TEST = 'test'  # the newest test json of the work dir
    VAL = 'val'  # the last validation in vis_data/scalars.json
    #: a test json without any metric: mmdet's CocoMetric returns none when nothing was
    #: detected, so a detector's run counts as box mAP 0
    EMPTY_TEST = 'test: no detections'
    NONE = 'none'


@dataclass
class Run:
    """One (config, seed) run, as the leaderboard reads it."""
    name: str
    seed: Optional[int]
    config: Optional[str]
    baseline: Optional[str]
    scope: str
    dataset: Optional[str]
    metrics: Dict[str, float]
    source: MetricSource
    #: the file the metrics came from (or where the val step was), for messages
    source_detail: str = ''
    work_dir: Optional[str] = None
    checkpoint: Optional[str] = None
    dumped_config: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- work dirs
def _newest(paths: List[str]) -> Optional[str]:
    return max(paths, key=osp.getmtime) if paths else None


def find_config(work_dir: str) -> Optional[str]:
    return _newest(glob.glob(osp.join(work_dir, '*.py')))


def find_checkpoint(work_dir: str) -> Optional[str]:
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
        local = osp.join(work_dir, osp.basename(path))
        if osp.isfile(local):
            return local
    return _newest(glob.glob(osp.join(work_dir, '*.pth')))


def project_config(name: str) -> Optional[str]:
    """The repository's ``configs/**/<name>.py``, which the dumped config was made from."""
    hits = glob.glob(osp.join(ROOT, 'configs', '**', f'{name}.py'), recursive=True)
    return osp.relpath(hits[0], ROOT) if len(hits) == 1 else None


def _metrics_in(d: Dict[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in d.items()
            if isinstance(v, (int, float)) and any(k == m or k.endswith('/' + m.split('/')[-1])
                                                   for m in METRIC_KEYS)}


def test_metrics(work_dir: str) -> Tuple[Dict[str, float], MetricSource, str]:
    """``(metrics, source, detail)`` of the newest test json with a metric, else of the last
    validation; a test json written without any metric (mmdet found nothing to evaluate) is
    :attr:`MetricSource.EMPTY_TEST`."""
    candidates = (glob.glob(osp.join(work_dir, 'test', '2*', '2*.json'))
                  + glob.glob(osp.join(work_dir, '2*', '2*.json')))
    empty = None
    for path in sorted(candidates, key=osp.getmtime, reverse=True):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if _metrics_in(data):
            return _metrics_in(data), MetricSource.TEST, osp.relpath(path, work_dir)
        empty = empty or osp.relpath(path, work_dir)
    last = None
    for path in sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json')),
                       key=osp.getmtime):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if _metrics_in(row):
                    last = (_metrics_in(row), MetricSource.VAL,
                            f'last, iter {row.get("step", "?")}')
    if last:
        return last
    if empty:
        return {}, MetricSource.EMPTY_TEST, empty
    return {}, MetricSource.NONE, ''


def collect_runs(work_dirs: Sequence[str]) -> List[Run]:
    """One :class:`Run` per work dir or run record (``<name>/seed<k>.json``).

    A record's metrics are the test metrics of its run. Its config is the dumped one when the
    run's work dir is still there, else regenerated from the record's config and schedule; its
    checkpoint only when the work dir is there."""
    from mmengine.config import Config
    runs = []
    for wd in work_dirs:
        wd = osp.normpath(wd)
        if wd.endswith('.json') and osp.isfile(wd):
            info, record = load_record(wd), wd
            work = osp.join(ROOT, info['work_dir']) if info.get('work_dir') else None
            wd = work if work and osp.isdir(work) else None
        else:
            info, record = load_record(osp.join(wd, 'run.json')), None
        dumped = find_config(wd) if wd else None
        if record and dumped is None:
            dumped = _regenerated_config(info)
        if dumped is None and not info:
            print(f'skip {wd}: no dumped config (*.py) and no run.json')
            continue
        cfg = Config.fromfile(dumped) if dumped else None
        name = info.get('name') or osp.splitext(osp.basename(dumped))[0]
        seed = info.get('seed')
        if seed is None and cfg is not None:
            seed = (cfg.get('randomness') or {}).get('seed')
        if record:
            metrics, source, detail = (_metrics_in(info.get('metrics') or {}),
                                       MetricSource.RECORD, osp.relpath(record, ROOT))
        else:
            metrics, source, detail = test_metrics(wd)
        if source is MetricSource.EMPTY_TEST:
            metrics = {'coco/bbox_mAP': 0.0}  # nothing detected: AP 0, said in `source`
        metrics.update(info.get('extra_metrics') or {})
        dataset = None
        if cfg is not None:
            try:
                ds = cfg.test_dataloader.dataset
                dataset = f'{ds.type} ({ds.get("data_root", "")})'
            except AttributeError:
                pass
        runs.append(Run(
            name=name, seed=seed, config=info.get('config') or project_config(name) or dumped,
            baseline=info.get('baseline_name'),
            scope=(cfg.get('default_scope') if cfg is not None else None) or
            info.get('scope', 'mmseg'),
            dataset=dataset, metrics=metrics, source=source, source_detail=detail,
            work_dir=wd or record, checkpoint=find_checkpoint(wd) if wd else None,
            dumped_config=dumped))
    return runs


_REGENERATED: Dict[Tuple[str, str], str] = {}


def _regenerated_config(info: Dict[str, Any]) -> Optional[str]:
    """The config a record's run trained: its config, with its schedule laid over it. One file
    per (config, schedule), in a temporary folder removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    config = info.get('config')
    if not config or not osp.isfile(osp.join(ROOT, config)):
        return None
    if not info.get('schedule'):
        return osp.join(ROOT, config)
    key = (config, info['schedule'])
    if key not in _REGENERATED:
        folder = tempfile.mkdtemp(prefix='attnplug-config-')
        atexit.register(shutil.rmtree, folder, True)
        _REGENERATED[key] = write_scheduled_config(config, info['schedule'], folder)
    return _REGENERATED[key]


def load_published(path: str) -> List[Dict[str, Any]]:
    """Entries of a published-numbers YAML; each must say ``published: true`` and give a
    ``source``."""
    import yaml
    with open(path) as f:
        entries = yaml.safe_load(f) or []
    for e in entries:
        if e.get('published') is not True or not e.get('source'):
            raise ValueError(f'{path}: entry {e.get("name")!r} must say published: true and '
                             'give a source to be listed (no unsourced numbers)')
    return entries


def name_without_seed(name: str) -> str:
    """``x_seed1`` -> ``x`` (work dirs named per seed by older scripts)."""
    return re.sub(r'[_-]seed\d+$', '', name)


def expand_work_dirs(paths: Sequence[str]) -> List[str]:
    """Runs: each path itself if it holds a run (a work dir, or a run record ``*.json``), else
    its ``seed*/`` subfolders (the layout of ``tools/benchmark_learning.py``'s work root:
    ``<root>/<config>/seed<k>/``) or its ``seed*.json`` records (the layout of its records:
    ``<records>/<config>/seed<k>.json``)."""
    out = []
    for p in paths:
        seeds = sorted(glob.glob(osp.join(p, 'seed*')))
        if seeds and not glob.glob(osp.join(p, '*.py')):
            out += [s for s in seeds if osp.isdir(s) or s.endswith('.json')]
        else:
            out.append(p)
    return out
