"""AttentionRefinementModule against its authors' code, ycszen/TorchSeg (by BiSeNet's first
author) ``furnace/seg_opr/seg_oprs.py:AttentionRefinement``: the golden record
tests/golden/authors/attention_refinement.pt (made by
benchmarks/golden/make_attention_refinement.py)."""
from pathlib import Path

from attnplug.layers import AttentionRefinementModule
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'attention_refinement.pt'
KEYS = {'conv_3x3.conv.': 'conv.', 'conv_3x3.bn.': 'norm.',
        'channel_attention.1.conv.': 'attn_conv.', 'channel_attention.1.bn.': 'attn_norm.'}


def test_defaults_equal_the_authors_code():
    record = load_golden(RECORD)
    module = AttentionRefinementModule(32, out_channels=16)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))
