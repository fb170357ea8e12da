from .attention import PackedMultiheadAttention

__all__ = ['PackedMultiheadAttention']
