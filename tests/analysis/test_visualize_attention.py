"""tools/visualize_attention.py: a checkpoint saved like mmengine saves it loads with
weights_only on, and the figure has one panel per map and is not blank."""
import glob
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('analysis_conftest',
                                               Path(__file__).with_name('conftest.py'))
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)


def _tool():
    spec = importlib.util.spec_from_file_location('attnplug_tool_visualize_attention',
                                                  ROOT / 'tools' / 'visualize_attention.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_figure_for_one_image(tiny_config, tiny_checkpoint, tiny_data, tmp_path):
    tool = _tool()
    image = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))[0]
    out = tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir',
                     str(tmp_path), '--query', '0.3', '0.6', '--query-px', '200', '40',
                     '--modules', 'CBAM', 'PositionAttention'])
    assert Path(out).parent == tmp_path and out.endswith('_attention.png')
    _conftest.png_is_not_blank(out)


def test_query_class_and_unknown_module(tiny_config, tiny_checkpoint, tiny_data, tmp_path):
    tool = _tool()
    image = sorted(glob.glob(str(tiny_data / 'cityscapes/leftImg8bit/val/*/*.png')))[0]
    # a class of the dataset: falls back to the centre when it is not predicted
    out = tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir',
                     str(tmp_path), '--query-class', 'car', 'person',
                     '--modules', 'decode_head.pam'])
    _conftest.png_is_not_blank(out)
    with pytest.raises(SystemExit, match='no module'):
        tool.main([str(tiny_config), str(tiny_checkpoint), image, '--out-dir', str(tmp_path),
                   '--modules', 'NoSuchAttention'])
