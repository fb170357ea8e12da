"""The per-layer ``LayerNorm -> Linear`` that carries CLIP tokens into the side network."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class _FrozenInputLayerNormLinear(torch.autograd.Function):
    """``Linear(LayerNorm(z))`` for a constant ``z`` that saves no activation of its own.

    The plain composition stores the normalised ``(M, W)`` tokens for the
    Linear's weight gradient. Here only ``z`` (which the caller keeps alive
    anyway) and the per-token mean and inverse std are saved, and the
    normalised tokens are recomputed in backward.
    """

    @staticmethod
    def forward(ctx, z, ln_weight, ln_bias, weight, bias, eps):
        zf = z.float()
        var, mean = torch.var_mean(zf, dim=-1, keepdim=True, unbiased=False)
        rstd = torch.rsqrt(var + eps)
        y = torch.addcmul(ln_bias, (zf - mean) * rstd, ln_weight)
        device = z.device.type
        dtype = (
            torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
        )
        out = F.linear(y.to(dtype), weight.to(dtype), bias.to(dtype))
        ctx.save_for_backward(z, mean, rstd, ln_weight, ln_bias, weight)
        ctx.compute_dtype = dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):
        z, mean, rstd, ln_weight, ln_bias, weight = ctx.saved_tensors
        xhat = (z.float() - mean) * rstd
        y = torch.addcmul(ln_bias, xhat, ln_weight)
        g = grad_out.float().reshape(-1, grad_out.shape[-1])
        grad_weight = g.t() @ y.reshape(-1, y.shape[-1])
        grad_bias = g.sum(0)
        grad_y = (g @ weight.float()).reshape(xhat.shape)
        grad_ln_weight = (grad_y * xhat).reshape(-1, xhat.shape[-1]).sum(0)
        grad_ln_bias = grad_y.reshape(-1, xhat.shape[-1]).sum(0)
        return None, grad_ln_weight, grad_ln_bias, grad_weight, grad_bias, None


class SideProjection(nn.Module):
    """``Linear(W -> D)(LayerNorm(W)(z))`` over all tokens of a frozen layer.

    Args:
        in_channels: CLIP width ``W``.
        out_channels: Side width ``D``.
        memory_efficient: Recompute the normalised tokens in backward
            instead of storing them (same result, less memory). Only used
            when ``z`` carries no gradient, which holds for frozen CLIP.
    """

    def __init__(self, in_channels: int, out_channels: int, memory_efficient: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.linear = nn.Linear(in_channels, out_channels)
        self.memory_efficient = memory_efficient

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(M, N+1, W) -> (M, N+1, D)``."""
        if self.memory_efficient and not z.requires_grad and torch.is_grad_enabled():
            return _FrozenInputLayerNormLinear.apply(
                z,
                self.norm.weight,
                self.norm.bias,
                self.linear.weight,
                self.linear.bias,
                self.norm.eps,
            )
        return self.linear(self.norm(z.to(self.norm.weight.dtype)))
