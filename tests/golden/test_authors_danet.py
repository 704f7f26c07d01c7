"""PositionAttention and ChannelAttention against the authors' DANet, junfu1115/DANet
``encoding/nn/da_att.py:PAM_Module`` / ``CAM_Module``: the golden records
tests/golden/authors/position_attention.pt and channel_attention.pt (made by
benchmarks/golden/make_danet.py)."""
from pathlib import Path

from attnplug.layers import ChannelAttention, PositionAttention
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

AUTHORS = Path(__file__).with_name('authors')


def test_position_attention_equals_the_authors_pam():
    record = load_golden(AUTHORS / 'position_attention.pt')
    module = PositionAttention(32)
    keys = {'query_conv.': 'query_project.', 'key_conv.': 'key_project.',
            'value_conv.': 'value_project.', 'gamma': 'gamma.scale'}  # (1, ) -> scalar
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], keys))


def test_channel_attention_equals_the_authors_cam():
    record = load_golden(AUTHORS / 'channel_attention.pt')
    module = ChannelAttention(32)
    mapped = map_golden_state_dict(module, record['state_dict'], {'gamma': 'gamma.scale'})
    assert_matches_golden(module, record, mapped)
