"""tools/benchmark_attention.py --compare: the code path a GPU run takes, on the CPU at tiny
sizes (cases built, each implementation run in its own process, ratios, roofline, goals)."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_attention', osp.join(ROOT, 'tools', 'benchmark_attention.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_compare_cases_and_report(tool, tmp_path):
    args = tool.parse_args(['--compare', '--quick', '--device', 'cpu', '--out',
                            str(tmp_path / 'att')])
    cases = tool.build_cases(args)
    suites = {c['suite'] for c in cases}
    assert suites == set(tool.SUITES)
    # every module suite pairs the reference with attnplug; the heads add the stub
    assert {c['impl'] for c in cases if c['suite'] == 'pam-train'} == {'mmseg', 'attnplug'}
    assert {c['impl'] for c in cases if c['suite'] == 'nl-infer'} == {'mmcv', 'attnplug'}
    assert {c['impl'] for c in cases if c['suite'] == 'heads-train'} == {'mmseg', 'attnplug',
                                                                           'stub'}
    # run a tiny version of three suites through the same child entry point
    tiny = [dict(c, size=[5, 7], repeats=1, warmup=0) for c in cases
            if c['suite'] in ('pam-train', 'pam-infer')]
    tiny += [dict(cases[0], gemm_n=64, repeats=1, warmup=0)]
    results = {}
    for case in tiny:
        res = tool.run_compare_case(dict(case))
        assert res['times'] and res['times'][0] > 0, res
        results[tool._key(case)] = dict(res, peaks=[res['peak_mib']],
                                        gflops=[res.get('gflops', 0)])
    rows = tool.summarise(tiny, results)
    ours = [r for r in rows if r['impl'] == 'attnplug']
    assert len(ours) == 2 and all(r['speed_vs_ref'] > 0 for r in ours)
    # the same input through mmseg's PAM beside attnplug's: output (and input grad) agree,
    # and the backend that 'auto' took is recorded
    train = next(r for r in ours if r['suite'] == 'pam-train')
    assert train['parity_out'] < 1e-5 and train['parity_grad'] < 1e-5, train
    assert train['backend'] == 'blocked' and 'parity_grad' not in (
        next(r for r in ours if r['suite'] == 'pam-infer'))
    infer = next(r for r in ours if r['suite'] == 'pam-infer')
    assert 0 < infer['roofline_fraction']
    header = dict(date='today', device='cpu', command='x', device_kind='cpu', dtype='fp32')
    tool._reporting().write_csv(args.out + '.csv', rows, tool.CSV_FIELDS, header)
    text = '\n'.join(tool.render_markdown(args.out + '.csv'))
    assert 'PAM fwd+bwd: speed' in text and 'measured at B x HxW = 2x5x7' in text
    assert 'backend blocked; vs ref fp32: out ' in text


def test_cuda_arguments_are_accepted(tool):
    args = tool.parse_args(['--compare', '--device', 'cuda', '--dtype', 'bf16'])
    assert args.out.endswith('attention_cuda_bf16')
    gemm = [c for c in tool.build_cases(args) if c['suite'] == 'gemm']
    assert [c['gemm_dtype'] for c in gemm] == ['fp32', 'bf16']


def test_committed_reports_are_rendered_from_their_csv(tool):
    """Every committed docs/benchmarks/attention_*.md is what its CSV renders to."""
    import glob
    paths = sorted(glob.glob(osp.join(ROOT, 'docs', 'benchmarks', 'attention_*.csv')))
    if not paths:
        pytest.skip('no attention benchmark committed yet')
    for csv_path in paths:
        with open(csv_path[:-4] + '.md') as f:
            assert f.read() == '\n'.join(tool.render_report(csv_path)).rstrip('\n') + '\n', \
                csv_path


def test_tile_sweep_times_every_shape_and_marks_the_rule(tool, tmp_path, monkeypatch):
    """--tiles at a tiny PAM map: every shape is timed on the module's own q, k, v, the
    speeds are against the first shape (all keys), and the shape auto takes is marked."""
    from attnplug.functional import bounded_attention as ba
    monkeypatch.setattr(tool, 'TILE_SHAPES', ((64, None), (16, 32), (32, 32)))
    monkeypatch.setattr(ba, 'BLOCKED_KEY_TILE', 32)  # N = 8·12 = 96 keys: three tiles
    monkeypatch.setattr(ba, 'BLOCKED_TILE_BYTES', 4 * 32 * 32)
    out = str(tmp_path / 'tiles')
    args = tool.parse_args(['--tiles', '--pam-infer-size', '8', '12', '--rounds', '2',
                            '--repeats', '1', '--warmup', '0', '--out', out])
    rows = tool.tiles(args, ['--tiles'])
    assert [(r['rows'], r['cols']) for r in rows] == [(64, 96), (16, 32), (32, 32)]
    assert [r['rule'] for r in rows] == ['', '', 'yes']
    assert all(len(r['times_s'].split()) == 2 for r in rows) and rows[0]['speed_vs_all_keys'] \
        == '1.00'
    text = open(out + '.md').read()
    assert text == '\n'.join(tool.render_report(out + '.csv')).rstrip('\n') + '\n'
    assert '| 32 | 32 | 96 | 64 | 512 |' in text and 'key tiles' in text


@pytest.mark.parametrize('dtype', ['bf16', 'fp32'])
def test_cut_short_cuda_run_renders_from_its_log(tool, tmp_path, dtype):
    """The committed partial CUDA reports are what their run's logs render to (rows parsed
    from the tool's progress lines; the sizes of each case from build_cases)."""
    run = osp.join(ROOT, 'docs', 'benchmarks', 'runs', 'attention_cuda_2026-12-06')
    tag = 'cuda' + ('' if dtype == 'fp32' else '_bf16')
    committed = osp.join(ROOT, 'docs', 'benchmarks', f'attention_{tag}_partial')
    out = tool.from_log(run, dtype, out=str(tmp_path / 'RENDERED'))
    for ext in ('.csv', '.md'):
        with open(out + ext) as f, open(committed + ext) as g:
            mine = f.read().replace(osp.basename(out), osp.basename(committed))
            assert mine == g.read(), ext
    rows, _ = tool._reporting().read_csv(out + '.csv')
    pam = next(r for r in rows if r['suite'] == 'pam-train' and r['impl'] == 'attnplug')
    assert pam['backend'] == 'sdpa' and float(pam['mem_vs_ref']) < 0.25


def test_doc_block_lines_come_from_the_report_rows(tool):
    """The README's block (benchmarks/doc_blocks.render_attention) states each attnplug row's
    ratios as the CSV has them, and leaves the speed out when asked (memory_only=1)."""
    from benchmarks import doc_blocks
    source = 'docs/benchmarks/attention_cpu.csv'
    rows, _ = tool._reporting().read_csv(osp.join(ROOT, source))
    text = doc_blocks.render('tools/benchmark_attention.py', source, {})
    pam = next(r for r in rows if r['suite'] == 'pam-train' and r['impl'] == 'attnplug')
    assert (f'PAM forward + backward ({pam["batch"]}×{pam["size"].replace("x", "×")}): '
            f'{float(pam["speed_vs_ref"]):.2f}× mmseg\'s speed; '
            f'{float(pam["mem_vs_ref"]):.2f}× mmseg\'s peak memory.') in text
    assert text.count('\n- ') == sum(r['impl'] == 'attnplug' for r in rows)
    quiet = doc_blocks.render('tools/benchmark_attention.py', source, {'memory_only': '1'})
    assert 'speed' not in quiet and "× mmseg's peak memory" in quiet
