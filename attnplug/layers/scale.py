"""A learnable scalar gain (the ``gamma`` of DANet, arXiv 1809.02983, and CCNet,
arXiv 1811.11721).

Its parameter is named ``scale``, as in mmcv's ``mmcv.cnn.Scale``, so a module holding it
as ``gamma`` has the state-dict key ``gamma.scale`` and loads mmseg/mmcv checkpoints as is.
"""
import torch
import torch.nn as nn


class Scale(nn.Module):
    """Multiply the input by one learnable scalar.

    Args:
        scale (float): Initial value. Default: 1.0.
    """

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A 0-dim parameter does not promote: bf16/fp16 inputs stay in their dtype.
        return x * self.scale

    def reset(self, value: float) -> None:
        """Set the scalar in place (used by ``init_weights`` to restore an identity start)."""
        with torch.no_grad():
            self.scale.fill_(value)
