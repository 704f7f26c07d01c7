"""The faithfulness column of docs/modules.md: each module against its reference (the authors'
released code, a Caffe prototxt read as a spec, or an OpenMMLab module), from the golden records.

    python tools/faithfulness.py

runs every test that calls ``attnplug.testing.assert_matches_golden`` (in this process, under
pytest), records each comparison it makes (record, module, max |attnplug - reference| per mode),
and writes ``docs/faithfulness.json`` and the block between ``<!-- faithfulness:start -->`` and
``<!-- faithfulness:end -->`` in docs/modules.md. Every record under tests/golden/authors/ gets a
row, whoever added it; a record that no test compares is listed as untested.
``tests/test_faithfulness.py`` checks the JSON and the block against the records (it never
writes): after adding or remaking a record, or changing a layer, run this tool again.

A record's provenance may carry ``attnplug`` (the module and the argument that reproduces the
reference, e.g. ``"CBAM(variant='authors')"``) and ``departures`` (how the reference departs from
the paper, with its lines of code); without them the row names the module's class and leaves
the departures empty. The column "default variant" is the smallest difference between the
reference and attnplug's default (paper) variant with the same weights, where a test measures
it with ``attnplug.testing.assert_departs_from_golden``; "-" where none does (the default is the
match, or the weights do not fit the default).
"""
import datetime
import hashlib
import json
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / 'tests' / 'golden' / 'authors'
JSON_PATH = ROOT / 'docs' / 'faithfulness.json'
DOC = ROOT / 'docs' / 'modules.md'
START, END = '<!-- faithfulness:start -->', '<!-- faithfulness:end -->'
COMMAND = 'python tools/faithfulness.py'


def golden_test_files():
    """Every test file that compares with a golden record."""
    files = []
    for path in sorted((ROOT / 'tests').rglob('test_*.py')):
        if path.name != 'test_faithfulness.py' and 'assert_matches_golden' in path.read_text():
            files.append(path)
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_golden_tests(files):
    """Run ``files`` under pytest here; return (the comparisons observed, pytest's exit code)."""
    import pytest

    from attnplug import testing
    seen = []
    testing._GOLDEN_OBSERVERS.append(seen.append)
    try:
        code = pytest.main([str(f) for f in files] + ['-q', '-p', 'no:cacheprovider'])
    finally:
        testing._GOLDEN_OBSERVERS.remove(seen.append)
    return seen, int(code)


def reference(prov: dict) -> str:
    """``repo@commit`` linked to the file at that commit, or ``repo version`` for a package."""
    repo, commit, file = prov['repo'], prov['commit'], prov['file']
    if re.fullmatch(r'[0-9a-f]{40}', commit):
        return (f'[{repo}@{commit[:8]}](https://github.com/{repo}/blob/{commit}/{file}) '
                f"`{file}` {prov['cls']}")
    return f"{repo} {commit} `{file}` {prov['cls']}"


def build_rows(observations):
    """One row per record file, with the largest difference any test saw for it (a test has
    to load its record with ``attnplug.testing.load_golden`` to be matched to the file)."""
    from attnplug.testing import load_golden
    by_path, departures = {}, {}
    for obs in observations:
        if obs['path'] is None:
            continue
        target = by_path if obs.get('kind', 'match') == 'match' else departures
        target.setdefault(str(Path(obs['path']).resolve()), []).append(obs)
    rows = []
    for path in sorted(RECORDS.glob('*.pt')):
        record = load_golden(path)
        prov = record['provenance']
        seen = by_path.get(str(path.resolve()), [])
        diffs = {}
        for obs in seen:
            for mode, d in obs['diffs'].items():
                diffs[mode] = max(diffs.get(mode, 0.0), d)
        modules = sorted({obs['module'] for obs in seen})
        # the default (paper) variant against the same reference, where a test measures it
        paper = [d for obs in departures.get(str(path.resolve()), [])
                 for d in obs['diffs'].values()]
        rows.append(dict(
            record=str(path.relative_to(ROOT)),
            sha256=sha256(path),
            reference=reference(prov),
            provenance={k: prov[k] for k in ('repo', 'commit', 'file', 'cls')},
            attnplug=prov.get('attnplug') or ', '.join(modules),
            modules=modules,
            inputs=['x'.join(map(str, x.shape)) for x in record['inputs']],
            diffs=diffs,
            max_diff=max(diffs.values()) if diffs else None,
            paper_variant_diff=min(paper) if paper else None,
            atol=min((obs['atol'] for obs in seen), default=None),
            departures=prov.get('departures', ''),
            tested=bool(seen)))
    return rows


def _diff(row) -> str:
    if not row['tested']:
        return '**untested**'
    d = row['max_diff']
    return '0' if d == 0 else f'{d:.1e}'


def _paper(row) -> str:
    d = row.get('paper_variant_diff')
    return '-' if d is None else f'{d:.2g}'


def render(rows) -> str:
    lines = [START, '',
             '| attnplug, with | reference | input | max abs diff (fp32, train and eval) | '
             'default variant, min diff | departures of the reference from the paper |',
             '|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f"| `{row['attnplug']}` | {row['reference']} | {', '.join(row['inputs'])} | "
                     f"{_diff(row)} | {_paper(row)} | {row['departures'] or '-'} |")
    lines += ['', END]
    return '\n'.join(lines)


def current_block(text: str) -> str:
    return text[text.index(START):text.index(END) + len(END)]


def main() -> int:
    files = golden_test_files()
    observations, code = run_golden_tests(files)
    if code != 0:
        print(f'faithfulness: the golden tests failed (pytest exit code {code}); nothing written')
        return 1
    rows = build_rows(observations)
    import torch
    payload = dict(
        generated=dict(date=datetime.date.today().isoformat(), command=COMMAND,
                       device=f'cpu ({platform.machine()})', torch=torch.__version__,
                       python=platform.python_version(),
                       tests=[str(f.relative_to(ROOT)) for f in files]),
        rows=rows)
    JSON_PATH.write_text(json.dumps(payload, indent=1) + '\n')
    text = DOC.read_text()
    DOC.write_text(text.replace(current_block(text), render(rows)))
    untested = [r['record'] for r in rows if not r['tested']]
    print(f'wrote {JSON_PATH.relative_to(ROOT)} and the block in {DOC.relative_to(ROOT)}: '
          f'{len(rows)} records, {len(untested)} untested {untested or ""}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
