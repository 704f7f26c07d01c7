"""mmseg decode heads over attnplug's attention layers, registered as ``attnplug.<Name>``
(imported only where mmseg is installed).

``DAHead``, ``CCHead``, ``NLHead`` and ``DNLHead`` are mmseg 1.2.2's heads of the same name,
key for key (their checkpoints load with ``strict=True``), with the attention taken from
:mod:`attnplug.layers` and :mod:`attnplug.functional`: bounded memory for the N×N attentions,
pure PyTorch for criss-cross. ``PSAHead`` is mmseg's ``PSAHead`` without mmcv's compiled
``PSAMask`` op (pure PyTorch, exportable to ONNX).
``AttnFCNHead`` is mmseg's ``FCNHead`` with any attnplug plugin between its convs.
"""
from attnplug.frameworks import require

__all__ = []

if require('mmseg', 'DAHead', 'CCHead', 'NLHead', 'DNLHead', 'PSAHead',
           'AttnFCNHead'):
    from .attn_fcn_head import AttnFCNHead
    from .cc_head import CCHead
    from .da_head import DAHead
    from .dnl_head import DNLHead
    from .nl_head import NLHead
    from .psa_head import PSAHead
    __all__ += ['DAHead', 'CCHead', 'NLHead', 'DNLHead', 'PSAHead', 'AttnFCNHead']
