"""Autograd functions that recompute cheap element-wise results instead of storing them.

Each computes exactly what its plain composition computes; only what is
saved for backward differs.
"""

import torch
import torch.nn.functional as F


class _GeluLinear(torch.autograd.Function):
    """``linear(gelu(h), W, b)`` saving ``h`` but not ``gelu(h)``."""

    @staticmethod
    def forward(ctx, h, weight, bias):
        dtype = h.dtype
        out = F.linear(F.gelu(h), weight.to(dtype), bias.to(dtype))
        ctx.save_for_backward(h, weight)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        h, weight = ctx.saved_tensors
        with torch.enable_grad():
            h_ = h.detach().requires_grad_()
            a = F.gelu(h_)
        g = grad_out.to(h.dtype)
        grad_weight = (g.reshape(-1, g.shape[-1]).t() @ a.detach().reshape(-1, a.shape[-1])).to(
            weight.dtype
        )
        grad_bias = g.reshape(-1, g.shape[-1]).sum(0).to(weight.dtype)
        grad_a = g @ weight.to(h.dtype)
        (grad_h,) = torch.autograd.grad(a, h_, grad_a)
        return grad_h, grad_weight, grad_bias


def gelu_linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear(F.gelu(h), weight, bias)`` without storing ``gelu(h)`` (4x wider than the tokens in an MLP)."""
    return _GeluLinear.apply(h, weight, bias)


class _SigmoidGate(torch.autograd.Function):
    """``z + z * (sigmoid(y) - 0.5)`` saving ``z`` and ``y`` only."""

    @staticmethod
    def forward(ctx, z, y):
        ctx.save_for_backward(z, y)
        return z * (torch.sigmoid(y) + 0.5)

    @staticmethod
    def backward(ctx, grad_out):
        z, y = ctx.saved_tensors
        s = torch.sigmoid(y)
        return grad_out * (s + 0.5), grad_out * z * s * (1 - s)


def sigmoid_gate(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``z + z * (sigmoid(y) - 0.5)`` (the TD-Adapter's output) with less saved."""
    if y.dtype != z.dtype:
        y = y.to(z.dtype)
    return _SigmoidGate.apply(z, y)


def batch_norm_last_dim(bn: torch.nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Apply ``bn`` to ``x`` whose channels are the LAST dim, ``(..., C)``.

    Gives what ``bn`` gives on the channel-first layout (statistics per
    channel over every other position), and updates the running statistics
    the same way, without permuting ``x`` into a copy.
    """
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or bn.running_mean is None
    track = not bn.training or bn.track_running_stats
    out = F.batch_norm(
        x.reshape(-1, x.shape[-1]),
        bn.running_mean if track else None,
        bn.running_var if track else None,
        bn.weight,
        bn.bias,
        use_batch_stats,
        momentum,
        bn.eps,
    )
    return out.reshape(x.shape)
