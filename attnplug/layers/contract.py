"""Input checks shared by every attnplug layer."""
import torch


def check_channels(module: torch.nn.Module, x: torch.Tensor, expected: int,
                   key: str = 'in_channels') -> None:
    """Fail with the module's name, the config key and the expected count when
    ``x`` does not have ``expected`` channels (dim 1)."""
    if x.dim() != 4:
        raise ValueError(f'{type(module).__name__}: expected a 4D (N, C, H, W) input, '
                         f'got shape {tuple(x.shape)}')
    if x.shape[1] != expected:
        raise ValueError(
            f'{type(module).__name__}: expected {expected} input channels '
            f'({key}={expected}), got {x.shape[1]} (input shape {tuple(x.shape)}). '
            f'Set {key} to the channels of the feature it is applied to.')
