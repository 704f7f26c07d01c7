"""Necks with attention, registered as ``attnplug.<Name>``: ``AttentionFPN``
(mmdet's FPN, for mmdet and mmseg configs) and ``SegAttentionFPN`` (mmseg's
FPN, mmseg's ``end_level`` and ``extra_convs_on_inputs`` semantics). See
docs/attention_unet_and_fpn.md."""
from .attention_fpn import AttentionFPN, AttentionFPNMixin, SegAttentionFPN

__all__ = ['AttentionFPN', 'AttentionFPNMixin', 'SegAttentionFPN']
