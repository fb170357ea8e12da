"""The per-layer ``LayerNorm -> Linear`` that carries CLIP tokens into the side network."""

import torch
import torch.nn as nn

from ..layers import layer_norm_linear


class SideProjection(nn.Module):
    """``Linear(W -> D)(LayerNorm(W)(z))`` over all tokens of a frozen layer.

    Args:
        in_channels: CLIP width ``W``.
        out_channels: Side width ``D``.
        memory_efficient: Recompute the normalised tokens in backward
            instead of storing them (same result, less memory;
            :func:`~mmaction_tdsclip.models.layers.layer_norm_linear`).
    """

    def __init__(self, in_channels: int, out_channels: int, memory_efficient: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.linear = nn.Linear(in_channels, out_channels)
        self.memory_efficient = memory_efficient

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(M, N+1, W) -> (M, N+1, D)``."""
        if self.memory_efficient:
            return layer_norm_linear(self.norm, self.linear.weight, self.linear.bias, z)
        return self.linear(self.norm(z.to(self.norm.weight.dtype)))
