"""The non-local decode head on attnplug's memory-bounded NonLocal2d."""
from typing import Optional

from attnplug.functional.bounded_attention import DEFAULT_MEMORY_BUDGET
from attnplug.layers.non_local import NonLocal2d
from attnplug.registry import MODELS

from .between_convs import BlockBetweenConvsHead


@MODELS.register_module()
class NLHead(BlockBetweenConvsHead):
    """Non-local Neural Networks.

    This head is the implementation of `NLNet <https://arxiv.org/abs/1711.07971>`_.

    The same model as mmseg's ``NLHead`` (same state-dict keys and outputs): an ``FCNHead``
    with two convs and a non-local block between them. The block is attnplug's
    :class:`~attnplug.layers.NonLocal2d`, which keys like mmcv's but never holds more than
    ``memory_budget`` bytes of attention scores (mmcv's builds the N×N map).

    Args:
        reduction (int): ``inter_channels = channels // reduction``. Default: 2.
        use_scale (bool): Scale the embedded-Gaussian energies by
            ``1 / sqrt(inter_channels)``. Default: True.
        mode (str): 'embedded_gaussian', 'gaussian' or 'dot_product'.
            Default: 'embedded_gaussian'.
        memory_budget (int): Bytes one fp32 block of attention scores may take.
            Default: 256 MiB.
        block_size (int, optional): Query rows per attention block; overrides
            ``memory_budget``. Default: None.
        num_convs (int): Must be 2, as in mmseg (accepted so that an ``FCNHead`` config
            switches to this head by its ``type`` alone). Default: 2.
        **kwargs: The other arguments of mmseg's ``FCNHead``.

    Shapes:
        (B, in_channels, H, W) feature -> (B, num_classes, H, W) logits.
    """

    block_name = 'nl_block'

    def __init__(self,
                 reduction: int = 2,
                 use_scale: bool = True,
                 mode: str = 'embedded_gaussian',
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 block_size: Optional[int] = None,
                 num_convs: int = 2,
                 **kwargs):
        super().__init__(num_convs=num_convs, **kwargs)
        self.reduction = reduction
        self.use_scale = use_scale
        self.mode = mode
        self.nl_block = NonLocal2d(
            in_channels=self.channels,
            reduction=reduction,
            use_scale=use_scale,
            mode=mode,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            memory_budget=memory_budget,
            block_size=block_size)
