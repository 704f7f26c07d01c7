"""scSE against its authors' code, ai-med/squeeze_and_excitation ``ChannelSpatialSELayer``: the
golden record tests/golden/authors/scse.pt (made by benchmarks/golden/make_scse.py)."""
from pathlib import Path

from attnplug.layers import SCSE
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, load_golden,
                              map_golden_state_dict)

RECORD = Path(__file__).with_name('authors') / 'scse.pt'
KEYS = {'cSE.fc1.': 'channel_fc1.', 'cSE.fc2.': 'channel_fc2.',  # nn.Linear -> 1x1 conv
        'sSE.conv.': 'spatial_conv.'}


def test_max_fusion_equals_the_authors_code():
    record = load_golden(RECORD)
    module = SCSE(32, reduction=2, fusion='max')
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))


def test_the_papers_sum_departs_from_it():
    record = load_golden(RECORD)
    module = SCSE(32, reduction=2)
    mapped = map_golden_state_dict(module, record['state_dict'], KEYS)
    assert_departs_from_golden(module, record, mapped, min_diff=1e-2)
