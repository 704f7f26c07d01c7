"""Fixtures of the deploy tests."""
import pytest
import torch


def _save_random_checkpoint(config, path, seed=0):
    """Build the model, give every all-zero parameter (attention gammas, zero-initialised
    output convs: identity-at-init blocks) and the BN statistics random values, and save a
    checkpoint as mmengine does (``state_dict`` + ``meta``)."""
    from attnplug.deploy import load_model
    model, task = load_model(config, None)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.dtype.is_floating_point:
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 + 0.8)
            elif name.endswith('running_mean') or not t.any():
                t.copy_(torch.rand(t.shape, generator=gen) * 0.4 - 0.2)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(seed=seed)), path)
    return model, task



@pytest.fixture
def random_checkpoint():
    """``random_checkpoint(config, path, seed=0) -> (model, task)``."""
    return _save_random_checkpoint
