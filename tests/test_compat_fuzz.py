"""The bounded, seeded fuzzer over the weights-only loader (benchmarks/fuzz_checkpoints.py):
a few seconds of it in CI, and a negative control showing it finds what a naive numpy
allowlist lets through. The long run's record is docs/benchmarks/security_fuzz.json."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import attnplug  # noqa: F401
from attnplug import compat

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('fuzz_checkpoints',
                                               ROOT / 'benchmarks' / 'fuzz_checkpoints.py')
fz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fz)


def test_fuzzer_runs_clean():
    record = fz.fuzz(programs=600, seed=1234)
    assert record.failures == 0, record.first_failures
    # the programs reach both outcomes, so the checks on loaded objects run
    assert record.loaded > 30 and record.refused > 30, (record.loaded, record.refused)


@pytest.fixture
def naive_numpy_allowlist():
    """What a user might write instead of attnplug.compat: numpy's own reconstructor, ndarray
    and dtype allowlisted as they are."""
    ours = compat.mmengine_checkpoint_globals()
    naive = [(np._core.multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
             (np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    naive += [(type(np.dtype(code)), f'numpy.dtypes.{type(np.dtype(code)).__name__}')
              for code in ('f8', 'b1', 'u1')]  # numpy BUILDs each dtype object's class
    torch._weights_only_unpickler._remove_safe_globals(ours)
    torch.serialization.add_safe_globals(naive)
    yield
    torch._weights_only_unpickler._remove_safe_globals(naive)
    torch.serialization.add_safe_globals(ours)


def test_fuzzer_finds_what_a_naive_allowlist_lets_through(naive_numpy_allowlist):
    """The negative control: with numpy's own functions allowlisted, the same fuzzer finds
    arrays that view the file's bytes and tensors sharing memory with arrays."""
    found = []
    record = fz.fuzz(programs=1500, seed=1234,
                     on_failure=lambda i, body, outcome: found.extend(outcome.problems))
    assert record.failures > 0
    assert any('does not own its data' in p for p in found), found[:10]
    assert any('shares memory' in p for p in found), found[:10]


def test_the_long_run_record_is_committed_and_clean():
    record = json.loads((ROOT / 'docs' / 'benchmarks' / 'security_fuzz.json').read_text())
    assert record['failures'] == 0 and record['programs'] >= 100000, record
    assert record['loaded'] + record['refused'] == record['programs']
    doc = (ROOT / 'docs' / 'security.md').read_text()
    # the block is held to the artefact by tests/test_docs_consistency.py
    assert 'from docs/benchmarks/security_fuzz.md -->' in doc, 'docs/security.md lacks the run'
