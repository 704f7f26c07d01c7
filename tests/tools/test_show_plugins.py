"""tools/show_plugins.py: the dry run of attnplug.WithPlugins in a config (paths, layout,
channels, features, added params and FLOPs), checked against independently built plugins."""
import csv
import json
from pathlib import Path

import pytest
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]
SEG = ROOT / 'configs/with_plugins/segformer_mit-w16-cbam_1xb4-300iter_cityscapes-bundled-128x256.py'
DET = ROOT / 'configs/with_plugins/rtmdet_cspnext-w16-cbam-c3-c5_300iter_coco-bundled.py'


def _tool():
    return repo_script('tools/show_plugins.py')


def _cbam_params(channels):
    from attnplug.layers import CBAM
    return sum(p.numel() for p in CBAM(in_channels=channels).parameters())


def test_segformer_sites_and_costs(tmp_path, capsys):
    tool = _tool()
    md, csv_path, js = tmp_path / 'p.md', tmp_path / 'p.csv', tmp_path / 'p.json'
    results = tool.main([str(SEG), '--md', str(md), '--csv', str(csv_path), '--json', str(js)])
    printed = capsys.readouterr().out
    (part, ) = results[0]['parts']
    assert part['part'] == 'backbone' and part['wraps'] == 'MixVisionTransformer'
    sites = part['sites']
    # MiT-B0 depths (2, 2, 2, 2), embed 16 x heads (1, 2, 5, 8): stages 2-4 have 32/80/128 channels
    assert [s['path'] for s in sites] == ['layers.1.1.0', 'layers.1.1.1', 'layers.2.1.0',
                                          'layers.2.1.1', 'layers.3.1.0', 'layers.3.1.1']
    assert [s['channels'] for s in sites] == [32, 32, 80, 80, 128, 128]
    assert {s['layout'] for s in sites} == {'NLC'} and {s['type'] for s in sites} == {'CBAM'}
    # the plugin sees the NCHW map of the stage at 128x256 input: strides 8, 16, 32
    assert [tuple(s['feature']) for s in sites[::2]] == [(1, 32, 16, 32), (1, 80, 8, 16),
                                                         (1, 128, 4, 8)]
    assert [s['params'] for s in sites] == [_cbam_params(c) for c in (32, 32, 80, 80, 128, 128)]
    assert part['plugin_params'] == sum(s['params'] for s in sites)
    assert all(s['flops'] > 0 for s in sites)
    assert 0 < part['plugin_flops'] < part['part_flops']
    for path in ('layers.1.1.0', 'layers.3.1.1'):
        assert path in printed
    text = md.read_text()
    assert 'date: ' in text and 'device: ' in text and 'command: `python tools/show_plugins.py' in text
    assert '| segformer_mit-w16-cbam_1xb4-300iter_cityscapes-bundled-128x256.py | backbone |' in text
    rows = list(csv.DictReader(line for line in csv_path.read_text().splitlines()
                               if not line.startswith('#')))
    assert rows[0]['sites'] == '6' and int(rows[0]['plugin_params']) == part['plugin_params']
    assert json.loads(js.read_text())['results'][0]['parts'][0]['sites'] == sites
    # --from-json re-renders the same tables (date, device and command of the run kept)
    again = tmp_path / 'again.md'
    tool.main([str(js), '--from-json', '--md', str(again)])
    assert again.read_text() == text


def test_rtmdet_sites(capsys):
    tool = _tool()
    (result, ) = tool.main([str(DET)])
    (part, ) = result['parts']
    assert part['wraps'] == 'CSPNeXt'
    assert [(s['path'], s['layout'], s['channels']) for s in part['sites']] == [
        ('stage2', 'NCHW', 32), ('stage3', 'NCHW', 64), ('stage4', 'NCHW', 128)]
    # the test pipeline pads to 256x256: strides 8, 16, 32
    assert [tuple(s['feature'][2:]) for s in part['sites']] == [(32, 32), (16, 16), (8, 8)]


def test_config_without_with_plugins_is_refused():
    tool = _tool()
    with pytest.raises(SystemExit, match='builds no part with attnplug.WithPlugins'):
        tool.main([str(ROOT / 'configs/segformer/segformer_mit-w16_1xb4-300iter_cityscapes-'
                       'bundled-128x256.py')])


BASE_SEG = ROOT / 'configs/segformer/segformer_mit-w16_1xb4-300iter_cityscapes-bundled-128x256.py'


def test_candidates_token_model(capsys):
    """--candidates on a plain SegFormer (MiT, token blocks): every block is listed with its
    grid source, and the suggested 'every block of stages 2-4' is the placement of the
    project's CBAM config, which WithPlugins builds with the same paths and channels."""
    from attnplug.models.with_plugins import WithPlugins, plugin_sites
    tool = _tool()
    (r, ) = tool.main([str(BASE_SEG), '--candidates'])
    printed = capsys.readouterr().out
    assert r['type'] == 'MixVisionTransformer'
    cands = {c['path']: c for c in r['candidates']}
    block = cands['layers.1.1.0']
    assert (block['layout'], block['channels']) == ('NLC', 32)
    assert block['grid'] == "H x W from arg 1"
    assert cands['layers.1.1.0.norm1']['grid'] == "H x W from arg 1 of the call of 'layers.1.1.0'"
    assert 'layers.1.1' not in cands  # a ModuleList is never called
    places = {p['name']: p for p in r['placements']}
    later = places['every block of stages 2-4']
    assert later['after'] == 'layers.[1-3].1.[0-1]' and later['sites'] == 6
    assert later['channels'] == [32, 32, 80, 80, 128, 128]
    assert "after='layers.[1-3].1.[0-1]'" in printed
    from mmengine.config import Config
    backbone = dict(Config.fromfile(str(BASE_SEG)).model.backbone)
    backbone.pop('type')
    backbone.pop('init_cfg', None)
    wrapped = WithPlugins(wraps='mmseg.MixVisionTransformer', **backbone,
                          plugins=[dict(cfg=dict(type='attnplug.CBAM'), after=later['after'])])
    assert [(s.path, s.channels) for s in plugin_sites(wrapped)] == [
        (p, cands[p]['channels']) for p in ['layers.1.1.0', 'layers.1.1.1', 'layers.2.1.0',
                                            'layers.2.1.1', 'layers.3.1.0', 'layers.3.1.1']]


def test_candidates_conv_model(tmp_path):
    """--candidates on RTMDet's CSPNeXt (NCHW): the stage outputs and the blocks."""
    tool = _tool()
    js = tmp_path / 'c.json'
    (r, ) = tool.main([str(DET), '--candidates', '--json', str(js)])
    assert r['type'] == 'CSPNeXt'
    places = {p['name']: p for p in r['placements']}
    stages = places['stage outputs']
    assert stages['after'] == 'stage[1-4]' and stages['layouts'] == ['NCHW']
    assert stages['channels'] == [16, 32, 64, 128]
    assert places['every block']['sites'] >= 4
    cands = {c['path']: c for c in r['candidates']}
    assert cands['stage2']['shape'][1:] == [32, 8, 12]  # 64x96 probe, stride 8
    assert json.loads(js.read_text())['results'][0]['placements'] == r['placements']
