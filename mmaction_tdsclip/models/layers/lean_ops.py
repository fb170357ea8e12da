"""Autograd functions that recompute cheap results in backward instead of storing them.

Each computes what its plain composition computes (up to floating-point
reassociation); only what is saved for backward differs. Under autocast they
compute as the composition would: matrix products in the autocast dtype,
normalisation statistics in float32.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm


def _matmul_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run a matrix product on ``x`` in (float32 without autocast)."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


def _renormalise(x, mean, rstd, weight, bias, dtype: torch.dtype) -> torch.Tensor:
    """``(x - mean) * rstd * weight + bias`` in float32, cast to ``dtype``: a norm's output
    recomputed in backward from its saved statistics."""
    return torch.addcmul(bias, (x.float() - mean) * rstd, weight).to(dtype)


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


def _batch_norm_args(
    bn: _BatchNorm,
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor], bool, float]:
    """Running statistics, whether to use batch statistics, and the momentum of one ``bn`` call.

    Counts the call in ``num_batches_tracked`` as ``bn.forward`` does.
    """
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or bn.running_mean is None
    track = not bn.training or bn.track_running_stats
    running_mean = bn.running_mean if track else None
    running_var = bn.running_var if track else None
    return running_mean, running_var, use_batch_stats, momentum


def batch_norm_last_dim(bn: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Apply ``bn`` to ``x`` whose channels are the LAST dim, ``(..., C)``.

    Gives what ``bn`` gives on the channel-first layout (statistics per
    channel over every other position), and updates the running statistics
    the same way, without permuting ``x`` into a copy.
    """
    running_mean, running_var, use_batch_stats, momentum = _batch_norm_args(bn)
    out = F.batch_norm(
        _rows(x), running_mean, running_var, bn.weight, bn.bias, use_batch_stats, momentum, bn.eps
    )
    return out.reshape(x.shape)


class _BatchNormMLP(torch.autograd.Function):
    """``fc2(gelu(fc1(bn(x))))`` with batch statistics, saving ``x`` and the statistics only.

    The plain composition saves the normalised ``x`` and the 4x wider
    ``fc1`` output; here backward recomputes both (one extra ``fc1``
    product).
    """

    @staticmethod
    def forward(
        ctx, x, bn_weight, bn_bias, running_mean, running_var, momentum, eps, w1, b1, w2, b2
    ):
        dtype = _matmul_dtype(x)
        a, mean, invstd = torch.native_batch_norm(
            _rows(x), bn_weight, bn_bias, running_mean, running_var, True, momentum, eps
        )
        h = F.linear(a.to(dtype), w1.to(dtype), b1.to(dtype))
        out = F.linear(F.gelu(h), w2.to(dtype), b2.to(dtype))
        ctx.save_for_backward(x, bn_weight, bn_bias, mean, invstd, w1, b1, w2)
        ctx.dtype, ctx.eps = dtype, eps
        return out.reshape(*x.shape[:-1], -1)

    @staticmethod
    def backward(ctx, grad_out):
        x, bn_weight, bn_bias, mean, invstd, w1, b1, w2 = ctx.saved_tensors
        dtype = ctx.dtype
        rows = _rows(x)
        a = _renormalise(rows, mean, invstd, bn_weight, bn_bias, dtype)
        h = F.linear(a, w1.to(dtype), b1.to(dtype))
        g = _rows(grad_out).to(dtype)
        grad_w2 = g.t() @ F.gelu(h)
        grad_b2 = g.sum(0)
        grad_h = torch.ops.aten.gelu_backward(g @ w2.to(dtype), h)
        grad_w1 = grad_h.t() @ a
        grad_b1 = grad_h.sum(0)
        grad_a = grad_h @ w1.to(dtype)
        grad_x, grad_bn_weight, grad_bn_bias = torch.ops.aten.native_batch_norm_backward(
            grad_a.to(x.dtype),
            rows,
            bn_weight,
            None,
            None,
            mean,
            invstd,
            True,
            ctx.eps,
            [True, True, True],
        )
        return (
            grad_x.reshape(x.shape),
            grad_bn_weight,
            grad_bn_bias,
            None,
            None,
            None,
            None,
            grad_w1.to(w1.dtype),
            grad_b1.to(b1.dtype),
            grad_w2.to(w2.dtype),
            grad_b2.to(w2.dtype),
        )


def batch_norm_mlp(
    bn: _BatchNorm, fc1: torch.nn.Linear, fc2: torch.nn.Linear, x: torch.Tensor
) -> torch.Tensor:
    """``fc2(gelu(fc1(bn(x))))`` on channels-last ``x`` ``(..., C)``, exact GELU.

    In training with gradients it saves only ``x`` and the batch statistics
    (:class:`_BatchNormMLP`); otherwise it is the plain composition.
    """
    if not (bn.training and torch.is_grad_enabled()):
        return fc2(F.gelu(fc1(batch_norm_last_dim(bn, x))))
    running_mean, running_var, _, momentum = _batch_norm_args(bn)
    return _BatchNormMLP.apply(
        x,
        bn.weight,
        bn.bias,
        running_mean,
        running_var,
        momentum,
        bn.eps,
        fc1.weight,
        fc1.bias,
        fc2.weight,
        fc2.bias,
    )


class _LayerNormLinear(torch.autograd.Function):
    """``linear(layer_norm(x))`` saving ``x`` and the statistics, not the normalised ``x``."""

    @staticmethod
    def forward(ctx, x, ln_weight, ln_bias, weight, bias, eps):
        dtype = _matmul_dtype(x)
        # Without autocast the normalisation runs in float32 whatever x's dtype, as LayerNorm
        # would on an upcast input; with autocast, in x's dtype with float32 statistics.
        x_in = x.float() if dtype == torch.float32 else x
        y, mean, rstd = torch.native_layer_norm(x_in, (x.shape[-1],), ln_weight, ln_bias, eps)
        out = F.linear(y.to(dtype), weight.to(dtype), bias.to(dtype))
        ctx.save_for_backward(x, ln_weight, ln_bias, weight, mean, rstd)
        ctx.dtype, ctx.eps = dtype, eps
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, ln_weight, ln_bias, weight, mean, rstd = ctx.saved_tensors
        dtype = ctx.dtype
        x_in = x.float() if dtype == torch.float32 else x
        C = x.shape[-1]
        y = _renormalise(x_in, mean, rstd, ln_weight, ln_bias, dtype)
        g = _rows(grad_out).to(dtype)
        grad_weight = (g.t() @ _rows(y)).to(weight.dtype)
        grad_bias = g.sum(0).to(weight.dtype)
        grad_y = (g @ weight.to(dtype)).reshape(y.shape).to(x_in.dtype)
        need_x = ctx.needs_input_grad[0]
        grad_x, grad_ln_weight, grad_ln_bias = torch.ops.aten.native_layer_norm_backward(
            grad_y, x_in, (C,), mean, rstd, ln_weight, ln_bias, [need_x, True, True]
        )
        grad_x = grad_x.to(x.dtype) if need_x else None
        return grad_x, grad_ln_weight, grad_ln_bias, grad_weight, grad_bias, None


def layer_norm_linear(
    norm: torch.nn.LayerNorm,
    linear_weight: torch.Tensor,
    linear_bias: torch.Tensor,
    x: torch.Tensor,
) -> torch.Tensor:
    """``F.linear(norm(x), linear_weight, linear_bias)`` saving ``x`` instead of ``norm(x)``.

    With gradients this keeps ``x`` (in its own dtype; the plain composition
    under autocast keeps a float32 copy of it for the LayerNorm and the
    normalised tokens for the product) and recomputes the normalisation in
    backward.
    """
    if not torch.is_grad_enabled():
        return F.linear(norm(x.to(norm.weight.dtype)), linear_weight, linear_bias)
    return _LayerNormLinear.apply(x, norm.weight, norm.bias, linear_weight, linear_bias, norm.eps)
