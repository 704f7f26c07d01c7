"""CCNet's decode head on attnplug's pure-PyTorch criss-cross attention."""
from attnplug.layers.criss_cross import CrissCrossAttention
from attnplug.registry import MODELS

from .between_convs import BlockBetweenConvsHead


@MODELS.register_module()
class CCHead(BlockBetweenConvsHead):
    """CCNet: Criss-Cross Attention for Semantic Segmentation.

    This head is the implementation of `CCNet <https://arxiv.org/abs/1811.11721>`_.

    The same model as mmseg's ``CCHead`` (same state-dict keys and outputs): an ``FCNHead``
    with two convs and the recurrent criss-cross attention (RCCA, Sec. 3.3) between them.
    The attention is attnplug's :class:`~attnplug.layers.CrissCrossAttention`, pure PyTorch:
    the head needs no compiled mmcv op and exports to ONNX (opset 17, ``dynamo=True``).

    Args:
        recurrence (int): Criss-cross passes with shared weights. Default: 2.
        num_convs (int): Must be 2, as in mmseg (accepted so that an ``FCNHead`` config
            switches to this head by its ``type`` alone). Default: 2.
        **kwargs: The other arguments of mmseg's ``FCNHead``.

    Shapes:
        (B, in_channels, H, W) feature -> (B, num_classes, H, W) logits.
    """

    block_name = 'cca'

    def __init__(self, recurrence: int = 2, num_convs: int = 2, **kwargs):
        super().__init__(num_convs=num_convs, **kwargs)
        self.recurrence = recurrence
        # ``cca`` holds the keys of mmcv's CrissCrossAttention (cca.query_conv.weight, ...);
        # its R passes are the loop mmseg runs around mmcv's single pass.
        self.cca = CrissCrossAttention(self.channels, recurrence=recurrence)
