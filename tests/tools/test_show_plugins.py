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
