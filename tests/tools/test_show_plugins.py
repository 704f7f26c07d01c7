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


def _conv_block(c_in, c_out, stride):
    import torch.nn as nn

    class Block(nn.Module):  # a block: two layers with weights, not a torch.nn class
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1)
            self.bn = nn.BatchNorm2d(c_out)

        def forward(self, x):
            return self.bn(self.conv(x)).relu()
    return Block()


def test_suggest_two_stages_label():
    """With two stages, the placement after the first is 'every block of stage 2' (not
    'stages 2-2'), and it selects the blocks of the second stage."""
    import torch.nn as nn

    from attnplug.models.with_plugins import find_candidates, suggest_placements
    model = nn.Sequential()
    model.add_module('stage1', nn.Sequential(_conv_block(3, 8, 2), _conv_block(8, 8, 1)))
    model.add_module('stage2', nn.Sequential(_conv_block(8, 16, 2), _conv_block(16, 16, 1),
                                             _conv_block(16, 16, 1)))
    found, _ = find_candidates(model.eval())
    places = {p.name: p for p in suggest_placements(model, found)}
    assert 'every block of stage 2' in places, list(places)
    assert not any('2-2' in name for name in places)
    assert places['every block of stage 2'].paths == ['stage2.0', 'stage2.1', 'stage2.2']


def test_suggest_torch_layers_only():
    """A model of torch.nn layers only, called one by one (SSDVGG's features): no blocks and
    no top-level candidate; the suggestion is every numbered layer with weights of the most
    numerous class (the convs, not the norms), and WithPlugins-style plugins build on it."""
    import torch
    import torch.nn as nn

    import attnplug
    from attnplug.models.with_plugins import find_candidates, suggest_placements

    class VGGish(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                nn.BatchNorm2d(16), nn.ReLU())

        def forward(self, x):
            for layer in self.features:  # as SSDVGG: the Sequential itself is not called
                x = layer(x)
            return x
    model = VGGish().eval()
    found, _ = find_candidates(model)
    (place, ) = suggest_placements(model, found)
    assert place.name == 'every Conv2d layer'
    assert place.paths == ['features.0', 'features.2', 'features.5']
    x = torch.randn(1, 3, 23, 31)
    ref = model(x)
    attnplug.add_plugins(model, [dict(cfg=dict(type='GlobalContextBlock'), after=place.after)])
    assert len(attnplug.models.with_plugins.plugin_sites(model)) == 3
    torch.testing.assert_close(model(x), ref)  # the GC block is the identity at init
