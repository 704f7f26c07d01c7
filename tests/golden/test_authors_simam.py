"""SimAM against its authors' code, ZjjConan/SimAM ``simam_module``: the golden records
tests/golden/authors/simam.pt (their default lambda 1e-4, also attnplug's) and
simam-lambda0.1.pt (the lambda of their released runs), made by
benchmarks/golden/make_simam.py. SimAM has no weight, so the check that can fail is the other
lambda."""
from pathlib import Path

from attnplug.layers import SimAM
from attnplug.testing import (assert_departs_from_golden, assert_matches_golden, golden_max_diff,
                              load_golden)

AUTHORS = Path(__file__).with_name('authors')


def test_the_default_equals_the_authors_default():
    record = load_golden(AUTHORS / 'simam.pt')
    assert record['authors_kwargs']['e_lambda'] == 1e-4
    assert_matches_golden(SimAM(32), record, {})
    assert min(golden_max_diff(SimAM(32, e_lambda=0.1), record, {}).values()) > 1e-4


def test_released_lambda_equals_the_authors_released_runs():
    record = load_golden(AUTHORS / 'simam-lambda0.1.pt')
    assert record['authors_kwargs']['e_lambda'] == 0.1
    assert_matches_golden(SimAM(32, e_lambda=0.1), record, {})
    assert_departs_from_golden(SimAM(32), record, {}, min_diff=1e-4)  # the default, 1e-4
