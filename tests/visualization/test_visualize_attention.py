"""tools/visualize_attention.py: a checkpoint saved like mmengine saves it loads with
weights_only on, and the figure has one panel per map and is not blank."""
import glob
import importlib.util
import json
from pathlib import Path

import pytest
from benchmarks.paths import repo_script

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('visualization_conftest',
                                               Path(__file__).with_name('conftest.py'))
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)


def _figure_is_not_blank(png):
    """Every map panel of the figure, located through the tool's JSON, carries a map."""
    info = json.loads(Path(png).with_suffix('.json').read_text())
    panels = info['panels']
    assert [p['kind'] for p in panels[:2]] == ['input', 'prediction']
    maps = [p for p in panels if p['kind'] == 'map']
    marks = [tuple(q) for p in panels for q in p['query']]
    _conftest.png_is_not_blank(png, panels[0]['box'], [p['box'] for p in maps], info['alpha'],
                               marks=marks, mark_radius=16)
    return maps


def _tool():
    return repo_script('tools/visualize_attention.py')


def test_figure_for_one_image(tiny_config, tiny_checkpoint, tiny_data, tmp_path):
    tool = _tool()
    image = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))[0]
    out = tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir',
                     str(tmp_path), '--query', '0.3', '0.6', '--query-px', '200', '40',
                     '--modules', 'CBAM', 'PositionAttention'])
    assert Path(out).parent == tmp_path and out.endswith('_attention.png')
    maps = _figure_is_not_blank(out)
    # 4 CBAM gates + PAM at 2 query points
    assert len(maps) == 6 and sum('PositionAttention' in m['title'] for m in maps) == 2


def test_query_class_and_unknown_module(tiny_config, tiny_checkpoint, tiny_data, tmp_path):
    tool = _tool()
    image = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))[0]
    # a class of the dataset: falls back to the centre when it is not predicted
    out = tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir',
                     str(tmp_path), '--query-class', 'car', 'person',
                     '--modules', 'decode_head.pam'])
    _figure_is_not_blank(out)
    with pytest.raises(SystemExit, match='no module'):
        tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir', str(tmp_path),
                   '--modules', 'NoSuchAttention'])
