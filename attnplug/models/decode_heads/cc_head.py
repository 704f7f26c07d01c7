"""CCNet's decode head on attnplug's pure-PyTorch criss-cross attention."""
from typing import List

import torch
from mmseg.models.decode_heads.fcn_head import FCNHead
from torch import Tensor

from attnplug.layers.criss_cross import CrissCrossAttention
from attnplug.registry import MODELS


@MODELS.register_module()
class CCHead(FCNHead):
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

    def __init__(self, recurrence: int = 2, num_convs: int = 2, **kwargs):
        if num_convs != 2:
            raise ValueError(f'{type(self).__name__}: num_convs must be 2 (the attention sits '
                             f'between the two convs), got {num_convs}')
        super().__init__(num_convs=2, **kwargs)
        self.recurrence = recurrence
        # ``cca`` holds the keys of mmcv's CrissCrossAttention (cca.query_conv.weight, ...);
        # its R passes are the loop mmseg runs around mmcv's single pass.
        self.cca = CrissCrossAttention(self.channels, recurrence=recurrence)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Forward function."""
        x = self._transform_inputs(inputs)
        output = self.convs[1](self.cca(self.convs[0](x)))
        if self.concat_input:
            output = self.conv_cat(torch.cat([x, output], dim=1))
        return self.cls_seg(output)
