"""The Attention U-Net gate against its authors' code, ozan-oktay/Attention-Gated-Networks
``models/layers/grid_attention_layer.py:GridAttentionBlock2D``: the golden record
tests/golden/authors/attention_gate.pt (made by benchmarks/golden/make_attention_gate.py)."""
from pathlib import Path

from attnplug.layers import AttentionGate
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, load_golden,
                              map_golden_state_dict)

RECORD = Path(__file__).with_name('authors') / 'attention_gate.pt'
KEYS = {'theta.': 'theta_x.', 'phi.': 'phi_g.', 'psi.': 'psi.', 'W.': 'output_transform.'}


def test_authors_variant_equals_the_authors_code():
    record = load_golden(RECORD)
    module = AttentionGate(16, gating_channels=32, hidden_channels=8, variant='authors')
    assert module.theta_x.weight.shape == (8, 16, 2, 2)
    assert_matches_golden(module, record, map_golden_state_dict(module, record['state_dict'], KEYS))


def test_the_paper_variant_departs_from_it():
    """The paper's gate at full resolution, with the authors' theta averaged to a 1x1 conv and
    no output transform: far from their output."""
    record = load_golden(RECORD)
    module = AttentionGate(16, gating_channels=32, hidden_channels=8)
    sd = dict(record['state_dict'])
    sd['theta.weight'] = sd['theta.weight'].sum(dim=(2, 3), keepdim=True)
    mapped = map_golden_state_dict(module, sd, KEYS, drop=('W.', ))
    assert_departs_from_golden(module, record, mapped, min_diff=1e-2)
