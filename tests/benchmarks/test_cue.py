"""benchmarks.cue and tools/cue_chance.py: the cue-class objects read from generated
label maps, the score of a cue-blind guess against its closed form, the chance levels, and the
tool's outputs and errors."""
import json

import numpy as np
import pytest
from PIL import Image

from benchmarks import cue
from benchmarks.bundled import CUE_CLASSES
from benchmarks.paths import repo_script


def test_cue_objects_match_the_label_maps(workspace):
    root = workspace / 'data' / 'cityscapes'
    pixels, classes, images = cue.cue_objects(str(root))
    maps = sorted((root / 'gtFine' / 'val').rglob('*' + cue.LABEL_SUFFIX))
    assert images == len(maps) == 3
    from mmseg.datasets import CityscapesDataset
    ids = [list(CityscapesDataset.METAINFO['classes']).index(c) for c in CUE_CLASSES]
    expected = sorted((int((np.asarray(Image.open(m)) == i).sum()), k)
                      for m in maps for k, i in enumerate(ids)
                      if (np.asarray(Image.open(m)) == i).any())
    assert sorted(zip(pixels.astype(int).tolist(), classes.tolist())) == expected
    with pytest.raises(ValueError, match='no \\*_gtFine_labelTrainIds.png label maps under'):
        cue.cue_objects(str(workspace / 'nothing'))


def test_a_single_class_guess_scores_its_pixel_share():
    """Every object called class k: IoU_k is k's share of the object pixels, the other two
    IoUs are 0, so the mean is that share / 3, on every draw."""
    pixels = np.array([10.0, 30.0, 20.0, 40.0])
    classes = np.array([0, 1, 2, 1])
    scores = cue.blind_scores(pixels, classes, (0, 1, 0), 50, np.random.default_rng(0))
    assert scores == pytest.approx(np.full(50, 100 * (70 / 100) / 3))


def test_balanced_objects_give_the_closed_form_mean():
    """Many equal objects, a third per class, guessed uniformly: each IoU tends to
    (1/9) / (1/3 + 1/3 - 1/9) = 0.2, the best mean a cue-blind guess can expect."""
    pixels = np.ones(300)
    classes = np.repeat(np.arange(3), 100)
    levels = cue.chance_levels(pixels, classes, trials=400, steps=3, seed=1)
    assert levels['mean']['value'] == pytest.approx(20.0, abs=0.5)
    assert levels['mean']['p'] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert levels['p50']['value'] < levels['p95']['value'] < levels['p99']['value']
    assert cue.chance_levels(pixels, classes, trials=400, steps=3, seed=1) == levels


def test_tool_writes_json_and_markdown(workspace, tmp_path, capsys):
    tool = repo_script('tools/cue_chance.py')
    out = tmp_path / 'chance'
    root = str(workspace / 'data' / 'cityscapes')
    tool.main(['--data-root', root, '--trials', '500', '--steps', '2', '--out', str(out)])
    result = json.loads((out.with_suffix('.json')).read_text())
    assert result['data']['images'] == 3 and result['data']['classes'] == list(CUE_CLASSES)
    assert set(result['levels']) == {'mean', 'p50', 'p95', 'p99'}
    assert result['header']['command'].startswith('python tools/cue_chance.py --data-root')
    md = out.with_suffix('.md').read_text()
    assert f'| p95 | {result["levels"]["p95"]["value"]:.2f} |' in md
    capsys.readouterr()
    tool.main(['--data-root', root, '--trials', '500', '--steps', '2', '--print', 'p95'])
    assert capsys.readouterr().out.strip() == f'{result["levels"]["p95"]["value"]:.2f}'
    with pytest.raises(SystemExit, match='--data-root .*no \\*_gtFine_labelTrainIds.png'):
        tool.main(['--data-root', str(tmp_path), '--print', 'p95'])
    for bad in (['--print', 'p95', '--trials', '5'], []):
        with pytest.raises(SystemExit):
            tool.parse_args(bad)
