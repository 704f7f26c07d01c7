"""CoordAttention against its authors' code, houqb/CoordAttention ``coordatt.py:CoordAtt``: the
golden record tests/golden/authors/coord_attention.pt (made by
benchmarks/golden/make_coord_attention.py)."""
from pathlib import Path

from attnplug.layers import CoordAttention
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'coord_attention.pt'
KEYS = {'conv1.': 'conv_shared.', 'bn1.': 'norm.', 'conv_h.': 'conv_h.', 'conv_w.': 'conv_w.'}


def test_defaults_equal_the_authors_code():
    record = load_golden(RECORD)
    module = CoordAttention(32)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))
