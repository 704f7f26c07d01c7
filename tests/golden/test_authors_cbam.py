"""CBAM against its authors' code, Jongchan/attention-module ``MODELS/cbam.py:CBAM``: the golden
record tests/golden/authors/cbam.pt (made by benchmarks/golden/make_cbam.py)."""
from pathlib import Path

from attnplug.layers import CBAM
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, load_golden,
                              map_golden_state_dict)

RECORD = Path(__file__).with_name('authors') / 'cbam.pt'
KEYS = {'ChannelGate.mlp.1.': 'channel_attention.fc1.',  # nn.Linear -> 1x1 conv (reshaped)
        'ChannelGate.mlp.3.': 'channel_attention.fc2.',
        'SpatialGate.spatial.conv.': 'spatial_attention.conv.',
        'SpatialGate.spatial.bn.': 'spatial_attention.norm.'}


def test_authors_variant_equals_the_authors_code():
    record = load_golden(RECORD)
    module = CBAM(32, reduction=16, variant='authors')
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))


def test_the_paper_variant_departs_from_it():
    record = load_golden(RECORD)
    module = CBAM(32, reduction=16)
    mapped = map_golden_state_dict(module, record['state_dict'], KEYS,
                                   drop=('SpatialGate.spatial.bn.', ))
    assert_departs_from_golden(module, record, mapped, min_diff=1e-2)
