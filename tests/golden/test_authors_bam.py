"""BAM against its authors' code, Jongchan/attention-module ``MODELS/bam.py:BAM``: the golden
record tests/golden/authors/bam.pt (made by benchmarks/golden/make_bam.py, 11x13 input, where
the authors pool the left 11x11 square)."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import BAM
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, load_golden,
                              map_golden_state_dict)

RECORD = Path(__file__).with_name('authors') / 'bam.pt'
KEYS = {'channel_att.gate_c.gate_c_fc_0.': 'channel_branch.0.',  # nn.Linear -> 1x1 conv
        'channel_att.gate_c.gate_c_bn_1.': 'channel_branch.1.',  # BatchNorm1d -> 2d, same stats
        'channel_att.gate_c.gate_c_fc_final.': 'channel_branch.3.',
        'spatial_att.gate_s.gate_s_conv_reduce0.': 'spatial_branch.0.',
        'spatial_att.gate_s.gate_s_bn_reduce0.': 'spatial_branch.1.',
        'spatial_att.gate_s.gate_s_conv_di_0.': 'spatial_branch.3.',
        'spatial_att.gate_s.gate_s_bn_di_0.': 'spatial_branch.4.',
        'spatial_att.gate_s.gate_s_conv_di_1.': 'spatial_branch.6.',
        'spatial_att.gate_s.gate_s_bn_di_1.': 'spatial_branch.7.',
        'spatial_att.gate_s.gate_s_conv_final.': 'spatial_branch.9.'}


def _authors_bam():
    record = load_golden(RECORD)
    module = BAM(32, reduction=16, dilation=4, num_dilated_convs=2, variant='authors')
    return module, record, map_golden_state_dict(module, record['state_dict'], KEYS)


def test_authors_variant_equals_the_authors_code():
    module, record, mapped = _authors_bam()
    assert record['inputs'][0].shape[2:] == (11, 13)  # H <= W < 2H: their square window
    assert_matches_golden(module, record, mapped)


def test_the_paper_variant_departs_from_it():
    """The paper's BAM (sum in the gate, gain 1) with the authors' weights where it has them:
    their convs' biases that feed a BN are dropped, the final BNs stay identities."""
    record = load_golden(RECORD)
    module = BAM(32, reduction=16, zero_init=False).eval()
    drop = tuple(f'{branch}.{name}.bias' for branch, name in (
        ('channel_att.gate_c', 'gate_c_fc_0'), ('spatial_att.gate_s', 'gate_s_conv_reduce0'),
        ('spatial_att.gate_s', 'gate_s_conv_di_0'), ('spatial_att.gate_s', 'gate_s_conv_di_1')))
    mapped = map_golden_state_dict(module, record['state_dict'], KEYS, drop=drop,
                                   keep_missing=True)
    assert_departs_from_golden(module, record, mapped, min_diff=1e-2)


def test_authors_variant_pools_the_left_square_then_the_whole_map():
    module, record, mapped = _authors_bam()
    module.load_state_dict(mapped)
    x = torch.randn(2, 32, 7, 16)  # W >= 2H: the authors' code raises; the whole map here
    assert torch.equal(module._pool(x), x.mean(dim=(2, 3), keepdim=True))
    x = torch.randn(2, 32, 9, 13)
    assert torch.equal(module._pool(x), x[..., :9].mean(dim=(2, 3), keepdim=True))
    x = torch.randn(2, 32, 13, 9)  # H > W: the authors' code raises
    assert torch.equal(module._pool(x), x.mean(dim=(2, 3), keepdim=True))


def test_authors_variant_has_no_gain():
    assert 'gamma' not in BAM(32, variant='authors').state_dict()
    with pytest.raises(ValueError, match="BAM: variant='authors' has no gain"):
        BAM(32, variant='authors', zero_init=True)
    with pytest.raises(ValueError, match='BAM: variant must be one of'):
        BAM(32, variant='official')
