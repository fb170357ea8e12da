"""Multi-head attention with ``nn.MultiheadAttention``'s parameter layout."""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .lean_ops import layer_norm_linear


class _CPUBFloat16Attention(torch.autograd.Function):
    """Fused attention on CPU in bfloat16 whose backward runs in float32.

    PyTorch's fused CPU attention backward is slower in bfloat16 than in
    float32 (it converts block by block): 1.6x at the side network's shapes
    (``tools/benchmark.py``). The forward is the bfloat16 kernel, and what is
    saved (q, k, v, the output and the float32 log-sum-exp) is what
    ``F.scaled_dot_product_attention`` saves; the backward casts them to
    float32, so its gradients are the float32 kernel's, rounded once.
    """

    @staticmethod
    def forward(ctx, q, k, v):
        out, logsumexp = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
        ctx.save_for_backward(q, k, v, out, logsumexp)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, logsumexp = ctx.saved_tensors
        grads = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
            grad_out.float(), q.float(), k.float(), v.float(), out.float(), logsumexp, 0.0, False
        )
        return tuple(g.to(q.dtype) for g in grads)


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v)``, ``(B, heads, N, d)``; see :class:`_CPUBFloat16Attention`."""
    if q.device.type == 'cpu' and q.dtype == torch.bfloat16 and torch.is_grad_enabled():
        return _CPUBFloat16Attention.apply(q, k, v)
    return F.scaled_dot_product_attention(q, k, v)


class PackedMultiheadAttention(nn.Module):
    """Self-attention with ``nn.MultiheadAttention``'s parameter names.

    Args:
        embed_dims: Token width ``C``.
        num_heads: Number of heads; ``C`` must be divisible by it.
        use_sdpa: Use ``F.scaled_dot_product_attention`` (fused kernels).
            When False the softmax is computed explicitly, as the reference
            implementation does.
    """

    def __init__(self, embed_dims: int, num_heads: int, use_sdpa: bool = True) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}.')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.use_sdpa = use_sdpa
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dims, embed_dims))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dims))
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(
        self, query: torch.Tensor, key_value: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Attend ``query`` rows over ``key_value`` rows (self-attention when None).

        Args:
            query: ``(B, Nq, C)``.
            key_value: ``(B, Nk, C)`` or None.

        Returns:
            ``(B, Nq, C)``.
        """
        B, Nq, C = query.shape
        w_q, w_kv = self.in_proj_weight.split([C, 2 * C])
        b_q, b_kv = self.in_proj_bias.split([C, 2 * C])
        if key_value is None:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = F.linear(query, w_q, b_q)
            k, v = F.linear(key_value, w_kv, b_kv).chunk(2, dim=-1)
        return self._attend(q, k, v)

    def forward_suffix_queries(
        self, tokens: torch.Tensor, num_queries: int, norm: Optional[nn.LayerNorm] = None
    ) -> torch.Tensor:
        """The last ``num_queries`` rows of ``tokens`` attend over all rows.

        Equal to ``forward(tokens[:, -num_queries:], tokens)``, but projects
        q, k and v in one product over ``tokens`` (one wasted query row per
        extra key) instead of copying the query rows out first.

        Args:
            tokens: ``(B, Nk, C)``.
            num_queries: How many of the last rows are queries.
            norm: A LayerNorm applied to ``tokens`` first, fused with the
                projection so that the normalised tokens are not stored for
                backward (:func:`~mmaction_tdsclip.models.layers.layer_norm_linear`).

        Returns:
            ``(B, num_queries, C)``.
        """
        if norm is None:
            qkv = F.linear(tokens, self.in_proj_weight, self.in_proj_bias)
        else:
            qkv = layer_norm_linear(norm, self.in_proj_weight, self.in_proj_bias, tokens)
        q, k, v = qkv.chunk(3, dim=-1)
        return self._attend(q[:, -num_queries:], k, v)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        B, Nq, C = q.shape
        head_dims = C // self.num_heads
        q, k, v = (t.unflatten(-1, (self.num_heads, head_dims)).transpose(1, 2) for t in (q, k, v))
        if self.use_sdpa:
            out = fused_attention(q, k, v)
        else:
            attn = (q * head_dims**-0.5) @ k.transpose(-2, -1)
            out = attn.softmax(dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(B, Nq, C))
