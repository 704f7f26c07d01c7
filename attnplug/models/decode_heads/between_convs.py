"""The shape that mmseg's ``CCHead``, ``NLHead`` and ``DNLHead`` share: an ``FCNHead`` whose
two convs hold an attention block between them."""
from typing import List

import torch
from mmseg.models.decode_heads.fcn_head import FCNHead
from torch import Tensor


class BlockBetweenConvsHead(FCNHead):
    """``cls_seg(convs[1](block(convs[0](x))))``, with mmseg's optional ``conv_cat`` of the
    input. Not registered: a subclass builds its block in ``__init__`` under the attribute
    :attr:`block_name`, which is the block's state-dict prefix in mmseg.

    Args:
        num_convs (int): Must be 2, as in mmseg (accepted so that an ``FCNHead`` config
            switches to such a head by its ``type`` alone). Default: 2.
        **kwargs: The other arguments of mmseg's ``FCNHead``.
    """

    #: The attribute that holds the attention block (``'cca'``, ``'nl_block'``, ...).
    block_name = ''

    def __init__(self, num_convs: int = 2, **kwargs):
        if num_convs != 2:
            raise ValueError(f'{type(self).__name__}: num_convs must be 2 (the attention sits '
                             f'between the two convs), got {num_convs}')
        super().__init__(num_convs=2, **kwargs)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Forward function."""
        x = self._transform_inputs(inputs)
        output = self.convs[1](getattr(self, self.block_name)(self.convs[0](x)))
        if self.concat_input:
            output = self.conv_cat(torch.cat([x, output], dim=1))
        return self.cls_seg(output)
