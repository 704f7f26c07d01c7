"""SimAM against its authors' code, ZjjConan/SimAM ``simam_module``: the golden records
tests/golden/authors/simam.pt (their default lambda 1e-4) and simam-lambda0.1.pt (the lambda of
their released runs), made by benchmarks/golden/make_simam.py. SimAM has no weight, so the
check that can fail is the other lambda."""
from pathlib import Path

import pytest

from attnplug.layers import SimAM
from attnplug.testing import assert_matches_golden, golden_max_diff, load_golden

AUTHORS = Path(__file__).with_name('authors')


@pytest.mark.parametrize('name, e_lambda, other', [('simam.pt', 1e-4, 0.1),
                                                   ('simam-lambda0.1.pt', 0.1, 1e-4)])
def test_equals_the_authors_code(name, e_lambda, other):
    record = load_golden(AUTHORS / name)
    assert record['authors_kwargs']['e_lambda'] == e_lambda
    assert_matches_golden(SimAM(32, e_lambda=e_lambda), record, {})
    assert min(golden_max_diff(SimAM(32, e_lambda=other), record, {}).values()) > 1e-4
