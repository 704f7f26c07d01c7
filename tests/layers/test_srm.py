"""Tests of attnplug.layers.srm (SRM): the authors' SRMLayer through its golden record, the
plugin contract, and the departures the docstring lists."""
from pathlib import Path

import pytest
import torch

from attnplug.layers import SRM
from attnplug.testing import (assert_amp_finite, assert_deterministic, assert_matches_golden,
                              assert_onnx_parity, assert_shape_preserved, load_golden)

C = 16
GOLDEN = Path(__file__).resolve().parents[1] / 'golden' / 'authors' / 'srm.pt'


def test_matches_the_authors_code():
    """hyunjaelee410/style-based-recalibration-module SRMLayer(64), train and eval; the keys
    are theirs."""
    record = load_golden(GOLDEN)
    assert record['provenance']['cls'] == 'SRMLayer'
    m = SRM(record['authors_kwargs']['channel'])
    diffs = assert_matches_golden(m, record, dict(record['state_dict']))
    assert set(diffs) == {'train', 'eval'}


def test_style_integration_written_out():
    """Eq. 1-5 written out in float64 for one sample, in eval mode."""
    m = SRM(C).eval()
    with torch.no_grad():
        m.cfc.normal_()
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, C, 5, 7)
    xd = x.double()[0].flatten(1)
    mu, sigma = xd.mean(1), (xd.var(1) + 1e-5).sqrt()
    z = m.cfc[:, 0].double() * mu + m.cfc[:, 1].double() * sigma
    z = (z - m.bn.running_mean.double()) / (m.bn.running_var.double() + 1e-5).sqrt()
    expected = x.double() * torch.sigmoid(z)[None, :, None, None]
    torch.testing.assert_close(m(x).double(), expected, atol=1e-5, rtol=1e-5)


def test_a_one_by_one_map_uses_the_biased_variance():
    m = SRM(C).eval()
    with torch.no_grad():
        m.cfc.fill_(1.0)
    y = m(torch.randn(2, C, 1, 1))
    assert torch.isfinite(y).all()


def test_not_an_identity_at_init():
    """The zero CFC gives sigmoid(BN(0)) = 0.5 in eval mode: documented, not hidden."""
    x = torch.randn(2, C, 7, 9)
    torch.testing.assert_close(SRM(C).eval()(x), x * 0.5)


def test_contract():
    m = SRM(C)
    with torch.no_grad():
        m.cfc.normal_()
    assert_shape_preserved(m, C)
    assert_amp_finite(m, C)
    assert_deterministic(m, C)


def test_onnx_parity():
    pytest.importorskip('onnxruntime')
    m = SRM(C)
    with torch.no_grad():
        m.cfc.normal_()
    assert_onnx_parity(m, C)


def test_plugin_name_and_keys():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='attnplug.SRM'), in_channels=C, postfix=2)
    assert name == 'srm2' and isinstance(layer, SRM)
    assert list(layer.state_dict())[:3] == ['cfc', 'bn.weight', 'bn.bias']
    with pytest.raises(ValueError, match='eps'):
        SRM(C, eps=-1)
