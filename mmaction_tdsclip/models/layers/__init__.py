from .attention import PackedMultiheadAttention, fused_attention
from .lean_ops import batch_norm_last_dim, batch_norm_mlp, layer_norm_linear, sigmoid_gate
from .patch_conv import is_patch_conv, patch_conv3d

__all__ = [
    'PackedMultiheadAttention',
    'batch_norm_last_dim',
    'batch_norm_mlp',
    'fused_attention',
    'is_patch_conv',
    'layer_norm_linear',
    'patch_conv3d',
    'sigmoid_gate',
]
