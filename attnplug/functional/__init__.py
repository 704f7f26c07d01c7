"""Pure tensor functions (no parameters): memory-bounded 2D attention (with its
FlashAttention-2 autograd function), criss-cross attention, PSANet's point-wise spatial
attention."""
from .bounded_attention import (DEFAULT_MEMORY_BUDGET, attention, attention_probs,
                                choose_backend, chunk_rows, sdpa_fused_accepts, select_backend)
from .criss_cross import criss_cross_attention, criss_cross_energies
from .flash_attention import FlashAttentionFunction, RelativeBias2d, blocked_attention
from .point_wise_spatial_attention import point_wise_spatial_attention

__all__ = [
    'attention', 'attention_probs', 'select_backend', 'choose_backend', 'sdpa_fused_accepts',
    'chunk_rows', 'DEFAULT_MEMORY_BUDGET', 'blocked_attention', 'FlashAttentionFunction',
    'RelativeBias2d', 'criss_cross_attention', 'criss_cross_energies',
    'point_wise_spatial_attention'
]
