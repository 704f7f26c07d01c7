"""tools/sweep.py: the grid expands into short delta configs that load and build (a dry run), bad
grids are refused with the key that is wrong, and a 2-iteration run over one seed trains, tests
and feeds the leaderboard."""
import json
import os
import textwrap
from pathlib import Path

import pytest
from mmengine.config import Config

from benchmarks import reporting
from benchmarks import sweep as sw
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]
FCN = ROOT / 'configs/fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py'


def _tool():
    return repo_script('tools/sweep.py')


@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    """The bundled FCN at 1/4 width on a 2 + 2 image Cityscapes: seconds per run."""
    gen = repo_script('data/generate.py')
    root = tmp_path_factory.mktemp('sweepdata')
    gen.generate(str(root), datasets=('cityscapes', ), num_train=2, num_val=2, seed=0)
    path = tmp_path_factory.mktemp('sweepcfg') / 'tiny_fcn_bundled.py'
    path.write_text(textwrap.dedent(f"""
        _base_ = ['{FCN}']
        data_root = '{root}/cityscapes/'
        model = dict(backbone=dict(stem_channels=8, base_channels=8),
                     decode_head=dict(in_channels=64, channels=16),
                     auxiliary_head=dict(in_channels=32, channels=8))
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root=data_root))
        val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        """))
    return path


def test_dry_run_writes_deltas_that_build(tiny_base, tmp_path):
    paths = _tool().main([str(tiny_base), '--modules', 'CBAM', 'SqueezeExcitation',
                          '--stages', '0011', '1111', '--positions', 'after_conv2',
                          'after_stage', '--config-dir', str(tmp_path / 'cfgs'), '--dry-run'])
    assert len(paths) == 2 * 2 * 2
    name = 'tiny_fcn_bundled_cbam-s0011-after_conv2.py'
    text = (tmp_path / 'cfgs' / name).read_text()
    base = os.path.relpath(tiny_base, tmp_path / 'cfgs')
    assert not os.path.isabs(base)  # the configs can be committed and moved with the repo
    assert text.count('\n') < 12 and f"_base_ = ['{base}']" in text  # a short delta
    cfg = Config.fromfile(str(tmp_path / 'cfgs' / name))
    (plugin, ) = cfg.model.backbone.plugins
    assert cfg.model.backbone.type == 'attnplug.ResNetV1c'
    assert plugin == dict(cfg=dict(type='attnplug.CBAM'), stages=(False, False, True, True),
                          position='after_conv2')
    assert cfg.model.decode_head.channels == 16  # everything else is the base's


def test_after_patterns_wrap_the_base_backbone(tiny_base, tmp_path):
    """--after: module-path patterns through attnplug.WithPlugins, the base's backbone type
    moving to ``wraps``; no stages dimension. The non-local paper's placement (one block of
    a stage) builds with exactly one plugin."""
    paths = _tool().main([str(tiny_base), '--modules', 'NonLocal2d', '--after', 'layer3.1',
                          'layer[34].*', '--config-dir', str(tmp_path / 'cfgs'), '--dry-run'])
    names = {Path(p).name for p in paths}
    one_block = 'tiny_fcn_bundled_nonlocal2d-after-layer3-1.py'
    assert names == {one_block, 'tiny_fcn_bundled_nonlocal2d-after-layer-34.py'}, names
    cfg = Config.fromfile(str(tmp_path / 'cfgs' / one_block))
    assert cfg.model.backbone.type == 'attnplug.WithPlugins'
    assert cfg.model.backbone.wraps == 'ResNetV1c'
    assert cfg.model.backbone.plugins == [dict(cfg=dict(type='attnplug.NonLocal2d'),
                                               after='layer3.1')]
    assert cfg.model.backbone.base_channels == 8  # every other key is the base's
    from attnplug.analysis.build import build_model, load_config
    model = build_model(load_config(str(tmp_path / 'cfgs' / one_block)))
    plugins = [m for m in model.backbone.modules() if type(m).__name__ == 'NonLocal2d']
    assert len(plugins) == 1


def test_grid_errors_name_the_key(tiny_base, tmp_path):
    with pytest.raises(ValueError, match='stages .* 3 entries'):
        sw.expand(str(tiny_base), ['CBAM'], ['011'], {'position': ['after_conv2']})
    with pytest.raises(ValueError, match="'NoSuchAttention' is not registered"):
        sw.expand(str(tiny_base), ['NoSuchAttention'], ['0011'], {'position': ['after_conv2']})
    with pytest.raises(ValueError, match='0/1 per stage'):
        sw.parse_stages('0a11')
    with pytest.raises(ValueError, match='position placements need --stages'):
        sw.expand(str(tiny_base), ['CBAM'], [], {'position': ['after_conv2']})
    with pytest.raises(SystemExit):
        _tool().main([str(tiny_base), '--modules', 'CBAM', '--stages', '0011'])


@pytest.mark.e2e
def test_two_iteration_run_feeds_the_leaderboard(tiny_base, tmp_path):
    out = tmp_path / 'lb'
    rows = _tool().main([str(tiny_base), '--modules', 'SqueezeExcitation', '--stages', '0011',
                         '--positions', 'after_conv2', '--seeds', '0', '--iters', '2',
                         '--work-root', str(tmp_path / 'runs'), '--out-dir', str(out),
                         '--shape', '32', '64', '--jobs', '2'])
    assert [r.get('error') for r in rows] == [None, None]
    assert [r['threads'] for r in rows] == [max(1, len(os.sched_getaffinity(0)) // 2)] * 2
    # each finished run's row is kept beside the leaderboard, which is built from those rows
    for r in rows:
        kept = json.loads((out / 'runs' / r['name'] / 'seed0.json').read_text())
        assert kept['metrics'] == r['metrics']
    assert {r['baseline_name'] for r in rows} == {'tiny_fcn_bundled'}
    run = json.loads((tmp_path / 'runs' / 'tiny_fcn_bundled' / 'seed0' / 'run.json').read_text())
    assert run['seed'] == 0 and run['train_cpu_s'] > 0 and 'mIoU' in run['metrics']
    lb_rows, _ = reporting.read_csv(str(out / 'leaderboard.csv'))
    assert {r['name'] for r in lb_rows} == {'tiny_fcn_bundled',
                                            'tiny_fcn_bundled_squeezeexcitation-s0011-after_conv2'}
    assert (out / 'leaderboard.md').is_file() and (out / 'runs.csv').is_file()
    grid = (out / 'grid.md').read_text()
    assert '| SqueezeExcitation | 0011 | ' in grid and '| position=after_conv2 |' in grid


def test_the_grid_pivots_the_leaderboard(tmp_path):
    """grid.md and the docs' 'tools/sweep.py' blocks: one line per module and stage set, one
    column per position, each cell the mean and Δ [95% CI] read from the leaderboard; a point
    the sweep did not write is an error."""
    from benchmarks import doc_blocks
    from benchmarks import leaderboard as lb
    points = [dict(name=f'base_{m.lower()}-s{s}-{p}', module=m, stages=s, kind='position',
                   value=p, delta={}) for m in ('CBAM', 'SqueezeExcitation')
              for s in ('0011', '1111') for p in ('after_conv2', 'after_stage')]
    paths = sw.write_configs(str(FCN), points, str(tmp_path / 'configs'))
    assert sw.read_point(paths[1]) == dict(module='CBAM', stages='0011', kind='position',
                                           value='after_stage')
    assert sw.read_point(str(FCN)) is None

    def run(name, config, seed, miou):
        return lb.Run(name=name, seed=seed, config=config, baseline='base', scope='mmseg',
                      dataset=None, metrics={'mIoU': miou}, source=lb.MetricSource.RECORD)
    runs = [run('base', str(FCN), s, 50. + s) for s in range(3)]
    for i, (point, path) in enumerate(zip(points, paths)):
        # CBAM 0011 after_conv2 far above the base; the others within the seed noise
        shift = 20. if i == 0 else 0.5 * (i % 3)
        runs += [run(point['name'], path, s, 50. + shift + s) for s in range(3)]
    groups, metrics = lb.recompute(runs, 'mIoU')
    rows = lb.csv_rows(groups, metrics)
    board = tmp_path / 'leaderboard.csv'
    lb.save_csv(str(board), rows, metrics,
                {'date': 'd', 'device': 'x', 'command': 'python tools/sweep.py ...',
                 'metric': 'mIoU'})
    path = sw.write_grid(str(tmp_path))
    text = open(path).read()
    assert '- command: `python tools/sweep.py ...`' in text
    assert '| module | stages | position=after_conv2 | position=after_stage |' in text
    assert '| CBAM | 0011 | 71.00 (**+20.00** [' in text
    assert 'Base: `base`, mIoU 51.00 ± 1.00 (n = 3)' in text
    lines = [ln for ln in text.split('\n') if ln.startswith('| SqueezeExcitation | 1111 |')]
    assert len(lines) == 1 and lines[0].count('*n.s.*') == 2
    block = doc_blocks.render('tools/sweep.py', str(board), {})
    assert '| CBAM | 0011 | 71.00 (**+20.00** [' in block and '(d, x)' in block
    # a row whose config the sweep did not write cannot be placed in the grid
    rows[1].config = str(FCN)
    lb.save_csv(str(board), rows, metrics, {'metric': 'mIoU'})
    with pytest.raises(ValueError, match='was not written by tools/sweep.py'):
        sw.render_grid(str(board))
