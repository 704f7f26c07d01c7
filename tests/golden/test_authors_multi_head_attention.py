"""MultiHeadSelfAttention2d against mmcv 2.1.0's ``MultiheadAttention`` (which wraps
``torch.nn.MultiheadAttention``) over the H*W positions, without position encodings: BoTNet's
authors released TensorFlow code. The golden record tests/golden/authors/multi_head_attention.pt
(made by benchmarks/golden/make_openmmlab.py)."""
from pathlib import Path

from attnplug.layers import MultiHeadSelfAttention2d
from attnplug.testing import assert_matches_golden, load_golden, map_golden_state_dict

RECORD = Path(__file__).with_name('authors') / 'multi_head_attention.pt'
KEYS = {'attn.attn.in_proj_weight': 'qkv.weight', 'attn.attn.in_proj_bias': 'qkv.bias',
        'attn.attn.out_proj.': 'out_proj.'}


def test_without_position_encoding_equals_mmcv():
    record = load_golden(RECORD)
    module = MultiHeadSelfAttention2d(32, num_heads=8, pos_encoding=None)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))
