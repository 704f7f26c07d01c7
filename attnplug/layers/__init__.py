"""The attention layer library: one attention family per file, torch + mmengine only.

Importing this package registers every layer in ``attnplug.registry.MODELS``. Every layer is
an :class:`~attnplug.layers.base.AttentionModule` and follows one convention
(``docs/contributing.md``); adding one is its file, its test and one line below.
"""
from .base import AttentionMap, AttentionModule  # noqa: F401
from .attention_gate import AttentionGate  # noqa: F401
from .attention_refinement import AttentionRefinementModule  # noqa: F401
from .bam import BAM  # noqa: F401
from .cbam import CBAM  # noqa: F401
from .context_block import GlobalContextBlock  # noqa: F401
from .contextual_transformer import ContextualTransformer  # noqa: F401
from .coord_attention import CoordAttention  # noqa: F401
from .criss_cross import CrissCrossAttention  # noqa: F401
from .danet import ChannelAttention, PositionAttention  # noqa: F401
from .eca import ECA  # noqa: F401
from .efficient_multiscale_attention import EfficientMultiScaleAttention  # noqa: F401
from .external_attention import ExternalAttention  # noqa: F401
from .gated_channel_transformation import GatedChannelTransformation  # noqa: F401
from .large_kernel_attention import LargeKernelAttention  # noqa: F401
from .multi_head_attention import MultiHeadSelfAttention2d  # noqa: F401
from .non_local import NonLocal2d  # noqa: F401
from .polarized_self_attention import PolarizedSelfAttention  # noqa: F401
from .scse import SCSE  # noqa: F401
from .selective_kernel import SKConv  # noqa: F401
from .shuffle_attention import ShuffleAttention  # noqa: F401
from .simam import SimAM  # noqa: F401
from .spatial_group_enhance import SpatialGroupEnhance  # noqa: F401
from .squeeze_excite import SqueezeExcitation  # noqa: F401
from .srm import SRM  # noqa: F401
from .triplet_attention import TripletAttention  # noqa: F401
