"""Necks with attention, registered as ``attnplug.<Name>``: ``AttentionFPN``
(mmdet's FPN, for mmdet and mmseg configs; needs mmdet) and ``SegAttentionFPN``
(mmseg's FPN, mmseg's ``end_level`` and ``extra_convs_on_inputs`` semantics; needs
mmseg). See docs/attention_unet_and_fpn.md."""
from . import attention_fpn  # noqa: F401  (registration)
from .attention_fpn import AttentionFPNMixin

__all__ = ['AttentionFPNMixin']
if hasattr(attention_fpn, 'AttentionFPN'):
    from .attention_fpn import AttentionFPN
    __all__ += ['AttentionFPN']
if hasattr(attention_fpn, 'SegAttentionFPN'):
    from .attention_fpn import SegAttentionFPN
    __all__ += ['SegAttentionFPN']
