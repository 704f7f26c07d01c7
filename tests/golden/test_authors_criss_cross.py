"""CrissCrossAttention against mmcv 2.1.0's ``CrissCrossAttention`` (the authors' code,
speedinghzl/CCNet, is a CUDA extension): the golden record tests/golden/authors/criss_cross.pt
(made by benchmarks/golden/make_openmmlab.py)."""
from pathlib import Path

from attnplug.layers import CrissCrossAttention
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'criss_cross.pt'


def test_defaults_equal_mmcv():
    record = load_golden(RECORD)
    module = CrissCrossAttention(32)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict']))
