"""Fixtures of the deploy tests."""
import pytest

from attnplug.deploy import save_random_checkpoint as _save_random_checkpoint


@pytest.fixture
def random_checkpoint():
    """``random_checkpoint(config, path, seed=0) -> (model, task)``."""
    return _save_random_checkpoint
