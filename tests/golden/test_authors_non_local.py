"""NonLocal2d against mmcv 2.1.0's ``NonLocal2d`` (the authors' code, facebookresearch/
video-nonlocal-net, is Caffe2): the golden record tests/golden/authors/non_local.pt (made by
benchmarks/golden/make_openmmlab.py). tests/layers/test_non_local.py compares every mode live."""
from pathlib import Path

from attnplug.layers import NonLocal2d
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'non_local.pt'


def test_defaults_equal_mmcv():
    record = load_golden(RECORD)
    module = NonLocal2d(32)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict']))
