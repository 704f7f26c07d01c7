"""Pure tensor functions (no parameters): memory-bounded 2D attention, criss-cross attention,
PSANet's point-wise spatial attention."""
from .bounded_attention import (DEFAULT_MEMORY_BUDGET, attention, attention_probs,
                                chunk_rows, select_backend)
from .criss_cross import criss_cross_attention, criss_cross_energies
from .point_wise_spatial_attention import point_wise_spatial_attention

__all__ = [
    'attention', 'attention_probs', 'select_backend', 'chunk_rows', 'DEFAULT_MEMORY_BUDGET',
    'criss_cross_attention', 'criss_cross_energies', 'point_wise_spatial_attention'
]
