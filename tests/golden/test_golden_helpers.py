"""attnplug.testing's helpers for golden records: the state-dict mapping refuses to skip a
weight, and the comparison can fail."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import SCSE
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, golden_record_path,
                              load_golden, map_golden_state_dict)

RECORD = Path(__file__).with_name('authors') / 'scse.pt'
KEYS = {'cSE.fc1.': 'channel_fc1.', 'cSE.fc2.': 'channel_fc2.', 'sSE.conv.': 'spatial_conv.'}


def test_mapping_reshapes_linear_weights_and_refuses_leftovers():
    record = load_golden(RECORD)
    module = SCSE(32, fusion='max')
    mapped = map_golden_state_dict(module, record['state_dict'], KEYS)
    assert mapped['channel_fc1.weight'].shape == (16, 32, 1, 1)
    assert torch.equal(mapped['channel_fc1.weight'].flatten(1),
                       record['state_dict']['cSE.fc1.weight'])
    with pytest.raises(KeyError, match='not a key of the module'):
        map_golden_state_dict(module, record['state_dict'], {'cSE.fc1.': 'channel_fc1.'})
    with pytest.raises(KeyError, match=r"no authors' weight maps to \['spatial_conv.bias'"):
        map_golden_state_dict(module, record['state_dict'], KEYS, drop=('sSE.conv.', ))
    kept = map_golden_state_dict(module, record['state_dict'], KEYS, drop=('sSE.conv.', ),
                                 keep_missing=True)
    assert torch.equal(kept['spatial_conv.bias'], module.state_dict()['spatial_conv.bias'])
    with pytest.raises(KeyError, match='does not fit'):
        map_golden_state_dict(SCSE(32, reduction=4), record['state_dict'], KEYS)


def test_a_wrong_variant_fails_the_comparison(monkeypatch):
    """... and is not reported to tools/faithfulness.py: only comparisons that hold are."""
    from attnplug import testing
    seen = []
    monkeypatch.setattr(testing, '_GOLDEN_OBSERVERS', [seen.append])
    record = load_golden(RECORD)
    assert golden_record_path(record) == str(RECORD)
    module = SCSE(32)  # the paper's sum, against the authors' max
    mapped = map_golden_state_dict(module, record['state_dict'], KEYS)
    with pytest.raises(AssertionError, match='SCSE differs from ai-med/squeeze_and_excitation'):
        assert_matches_golden(module, record, mapped)
    with pytest.raises(AssertionError, match='no departure to document'):
        assert_departs_from_golden(SCSE(32, fusion='max'), record, mapped)
    assert seen == []
    assert_departs_from_golden(module, record, mapped)
    assert [obs['kind'] for obs in seen] == ['departure']
