from .attention import PackedMultiheadAttention, fused_attention
from .lean_ops import batch_norm_last_dim, batch_norm_mlp, layer_norm_linear, sigmoid_gate
from .patch_conv import conv_bn_tokens, patch_conv3d

__all__ = [
    'PackedMultiheadAttention',
    'batch_norm_last_dim',
    'batch_norm_mlp',
    'conv_bn_tokens',
    'fused_attention',
    'layer_norm_linear',
    'patch_conv3d',
    'sigmoid_gate',
]
