from .attention import PackedMultiheadAttention
from .lean_ops import batch_norm_last_dim, gelu_linear, sigmoid_gate

__all__ = ['PackedMultiheadAttention', 'batch_norm_last_dim', 'gelu_linear', 'sigmoid_gate']
