"""GlobalContextBlock against its authors' code, xvjiarui/GCNet
``mmdet/ops/gcb/context_block.py:ContextBlock`` (the block mmcv's copies): the golden record
tests/golden/authors/context_block.pt (made by benchmarks/golden/make_context_block.py)."""
from pathlib import Path

from attnplug.layers import GlobalContextBlock
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'context_block.pt'


def test_defaults_equal_the_authors_code():
    record = load_golden(RECORD)
    module = GlobalContextBlock(64, ratio=1. / 16)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict']))
