"""Re-render the committed benchmark artefacts from their committed rows, measuring nothing,
into a temporary folder, and say which ones differ from the committed files.

    python tools/rerender_artefacts.py                          # exit 1 when one differs
    python tools/rerender_artefacts.py --only leaderboards docs

Each artefact is rendered by the code that wrote it, from what the repository keeps:

* ``docs/leaderboard/*/``: the leaderboards (CSV, markdown, PNG, metafile, model index, and a
  sweep's ``grid.md``), rebuilt from their run rows with the costs and header of the committed
  ``leaderboard.csv`` (``tools/leaderboard.py --costs-from``: nothing is built or timed);
* ``docs/benchmarks/learning_*.{csv,md}``: the tables of ``tools/benchmark_learning.py``, from
  the run rows under ``docs/benchmarks/runs/`` with the committed header;
* ``docs/benchmarks/benchmark_bundled_cost.{csv,md}``: ``tools/benchmark_cost.py`` over the same
  rows;
* ``docs/benchmarks/heads_*.md``, ``attention_*.md``, ``modules_*.{csv,md,png}``,
  ``deploy_*.{csv,md}``: from their own CSV or JSON;
* the generated blocks of the docs (``tools/render_docs.py``).

What this cannot rebuild without measuring again: the costs in the leaderboards (params, FLOPs,
time, memory: ``tools/leaderboard.py`` without ``--costs-from``), the cue-blind levels
(``tools/cue_chance.py`` simulates them from the val labels), the FLOP counts of
``tools/get_flops.py`` and the detection-plugin costs (``tools/benchmark_det_plugins.py``).
Two committed files are known not to re-render from the repository alone (nor did they with the
code that wrote them): a leaderboard's ``metafile.yml`` names, under ``Weights:``, the
checkpoints of work dirs the repository does not keep (reported as such), and
``modules_c512-97x97-cpu.png`` was drawn from the measured values, of which the CSV keeps three
decimals. Rewrite an artefact by rerunning the tool that wrote it.
"""
import argparse
import filecmp
import glob
import os.path as osp
import shlex
import shutil
import sys
import tempfile

# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def _leaderboards(tmp):
    """(committed file, re-rendered file) of every leaderboard."""
    from benchmarks import leaderboard as lb
    from benchmarks import sweep as sw
    from benchmarks.paths import ROOT, repo_script
    pairs = []
    for csv_path in sorted(glob.glob(osp.join(ROOT, 'docs/leaderboard/*/leaderboard.csv'))):
        folder = osp.dirname(csv_path)
        out = osp.join(tmp, 'leaderboard', osp.basename(folder))
        rows, header = lb.read(csv_path)
        argv = shlex.split(header['command'])
        if argv[:2] == ['python', 'tools/leaderboard.py']:
            args = repo_script('tools/leaderboard.py').parse_args(argv[2:])
            paths = lb.expand_work_dirs([osp.join(ROOT, p) for p in args.work_dirs])
            metric, above, baseline = args.metric, args.seeds_above, args.baseline
        else:  # tools/sweep.py: its rows beside the leaderboard, in the leaderboard's order
            paths = [p for r in rows if r.kind is lb.Kind.MEASURED
                     for p in sorted(glob.glob(osp.join(folder, 'runs', r.name, 'seed*.json')))]
            metric, baseline = header['metric'], next(r.name for r in rows
                                                      if r.status.is_baseline)
            above = lb.parse_above(header.get('seeds_above', ''))
        lb.write(lb.collect_runs(paths), out, header['command'], metric, baseline,
                 above=above, costs_csv=csv_path)
        names = ['leaderboard.csv', 'leaderboard.md', 'leaderboard.png', 'metafile.yml',
                 'model-index.yml']
        if osp.isfile(osp.join(folder, 'grid.md')):
            shutil.copy(csv_path, osp.join(out, 'leaderboard.csv'))  # grid of the committed
            sw.write_grid(out, metrics=('cue_classes_mIoU', ))
            names.append('grid.md')
        pairs += [(osp.join(folder, n), osp.join(out, n)) for n in names]
    return pairs


def _learning_tables(tmp):
    """The run tables of tools/benchmark_learning.py, from the committed run rows."""
    from benchmarks import learning, reporting
    from benchmarks.paths import ROOT
    pairs = []
    for csv_path in sorted(glob.glob(osp.join(ROOT, 'docs/benchmarks/learning_*.csv'))):
        cells, header = reporting.read_csv(csv_path)
        rows = [] if cells and {'name', 'seed'} <= set(cells[0]) else None
        for c in cells if rows is not None else ():
            found = glob.glob(osp.join(ROOT, 'docs', 'benchmarks', 'runs', '*', c['name'],
                                       f'seed{c["seed"]}.json'))
            if len(found) != 1:
                rows = None
                break
            rows.append(learning.load_record(found[0]))
        if rows is None:
            print(f'not checked: {osp.relpath(csv_path, ROOT)} (an older table whose runs have '
                  'no committed row)')
            continue
        stem = osp.splitext(osp.basename(csv_path))[0]
        learning.report(rows, osp.join(tmp, stem), header)
        pairs += [(osp.join(ROOT, 'docs/benchmarks', stem + ext), osp.join(tmp, stem + ext))
                  for ext in ('.csv', '.md')]
    return pairs


def _cost_report(tmp):
    """The cost report of tools/benchmark_cost.py, from the same rows (the wall time at
    ``--jobs`` runs at a time counts this machine's cores, as the tool does)."""
    from benchmarks import learning, reporting
    from benchmarks.paths import ROOT, repo_script
    stem = osp.join(ROOT, 'docs/benchmarks/benchmark_bundled_cost')
    _, header = reporting.read_csv(stem + '.csv')
    args = repo_script('tools/benchmark_cost.py').parse_args(shlex.split(header['command'])[2:])
    base = {k: v for k, v in header.items()
            if k not in ('runs at a time', 'cpu hours of the runs made', 'runs made on',
                         'whole benchmark')}
    rows = learning.cost_summary(args.parts, args.planned)
    out = osp.join(tmp, 'benchmark_bundled_cost')
    learning.cost_report(rows, out, base, args.jobs)
    return [(stem + ext, out + ext) for ext in ('.csv', '.md')]


def _reports(tmp):
    """Heads, modules and deploy reports, each from its own CSV or JSON."""
    from benchmarks import head_benchmark, module_benchmark, reporting
    from benchmarks.paths import ROOT
    pairs = []
    for csv_path in sorted(glob.glob(osp.join(ROOT, 'docs/benchmarks/heads_*.csv'))):
        out = osp.join(tmp, osp.basename(csv_path)[:-4] + '.md')
        reporting.write_text(out, head_benchmark.render_markdown(csv_path))
        pairs.append((csv_path[:-4] + '.md', out))
    for csv_path in sorted(glob.glob(osp.join(ROOT, 'docs/benchmarks/modules_*.csv'))):
        results, header = module_benchmark.read_csv(csv_path)
        tag = osp.basename(csv_path)[len('modules_'):-4]
        stem = module_benchmark.write_outputs(results, tmp, tag, header)
        pairs += [(csv_path[:-4] + ext, stem + ext) for ext in ('.csv', '.md', '.png')]
    from benchmarks import deploy_benchmark as deploy
    for json_path in sorted(glob.glob(osp.join(ROOT, 'docs/benchmarks/deploy_*.json'))):
        out = osp.join(tmp, osp.basename(json_path)[:-5])
        deploy.render(json_path, out)
        pairs += [(json_path[:-5] + ext, out + ext) for ext in ('.csv', '.md')]
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'benchmark_attention', osp.join(ROOT, 'tools', 'benchmark_attention.py'))
    attention = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(attention)
    for csv_path in sorted(glob.glob(osp.join(ROOT, 'docs/benchmarks/attention_*.csv'))):
        out = osp.join(tmp, osp.basename(csv_path)[:-4] + '.md')
        reporting.write_text(out, attention.render_report(csv_path))
        pairs.append((csv_path[:-4] + '.md', out))
    return pairs


def _without_weights(path):
    """A metafile's lines other than ``Weights:``: those name the first seed's checkpoint
    where its work dir was on the machine that wrote the leaderboard (work_dirs/ is not
    committed), so they cannot be rebuilt from the repository."""
    with open(path) as f:
        return [ln for ln in f if not ln.lstrip().startswith('Weights:')]


PARTS = {'leaderboards': _leaderboards, 'learning': _learning_tables, 'cost': _cost_report,
         'reports': _reports, 'docs': None}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--only', nargs='+', choices=sorted(PARTS), default=sorted(PARTS),
                   help='which artefacts (default: all)')
    args = p.parse_args(argv)
    from benchmarks import doc_blocks
    from benchmarks.paths import ROOT
    differ = []
    with tempfile.TemporaryDirectory(prefix='attnplug-rerender-') as tmp:
        pairs = [pair for part in args.only if part != 'docs' for pair in PARTS[part](tmp)]
        for committed, fresh in pairs:
            same = osp.isfile(committed) and filecmp.cmp(committed, fresh, shallow=False)
            note = ''
            if not same and committed.endswith('metafile.yml') and osp.isfile(committed) \
                    and _without_weights(committed) == _without_weights(fresh):
                note = ('  (only its Weights: lines, the checkpoints of work dirs the repository '
                        'does not keep)')
            print(f'{"same    " if same else "DIFFERS "} {osp.relpath(committed, ROOT)}{note}')
            if not same:
                differ.append(committed)
    stale = doc_blocks.check(doc_blocks.doc_files()) if 'docs' in args.only else []
    for doc, tool, source in stale:
        print(f'DIFFERS  {doc}: block of {tool} from {source}')
    print(f'{len(pairs) - len(differ)} of {len(pairs)} artefacts re-render byte-identical; '
          f'{len(stale)} stale doc block(s)')
    return 1 if differ or stale else 0


if __name__ == '__main__':
    sys.exit(main())
