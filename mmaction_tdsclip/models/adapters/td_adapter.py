"""The TD-Adapter (Temporal Difference) of TDS-CLIP (``docs/model.md`` section 4)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from ..layers import batch_norm_last_dim, sigmoid_gate

TD_MODES = ('pool', 'conv', 'direct')


@MODELS.register_module()
class TDAdapter(nn.Module):
    """Gates a feature map by its local temporal differences.

    On ``Z`` of shape ``(B, C, T, H, W)``:

    1. per frame, a 1x1 conv ``C -> C/r`` (no bias) and BatchNorm: ``Zr``;
    2. a temporal reference ``P``: max over frames ``t-k//2 .. t+k//2``
       (``mode='pool'``), a learned depthwise temporal conv (``'conv'``), or
       the previous frame (``'direct'``, zero difference at ``t = 0``);
    3. ``d = Zr - P``; ``y = 0.5 d + 0.5 mean_c(d)``;
    4. a 1x1 conv ``C/r -> C`` (no bias) and BatchNorm;
    5. output ``Z + Z * (sigmoid(y) - 0.5)``.

    Args:
        channels: ``C``.
        reduction: ``r``; the bottleneck has ``max(C // r, 1)`` channels.
        mode: ``'pool'`` (the paper's), ``'conv'`` or ``'direct'``.
        kernel_size: Temporal extent of the pool or conv (odd).
    """

    def __init__(
        self, channels: int, reduction: int = 16, mode: str = 'pool', kernel_size: int = 3
    ) -> None:
        super().__init__()
        if mode not in TD_MODES:
            raise ValueError(f'TDAdapter mode={mode!r} is not one of {TD_MODES}.')
        if kernel_size % 2 == 0:
            raise ValueError(f'TDAdapter kernel_size must be odd, got {kernel_size}.')
        hidden = max(channels // reduction, 1)
        self.mode = mode
        self.kernel_size = kernel_size
        self.conv1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        if mode == 'conv':
            self.temporal_conv = nn.Conv3d(
                hidden, hidden, (kernel_size, 1, 1), padding=(kernel_size // 2, 0, 0), groups=hidden
            )

    def reference(self, zr: torch.Tensor) -> torch.Tensor:
        """The temporal reference ``P`` of ``Zr`` ``(B, C/r, T, H, W)``."""
        if self.mode == 'pool':
            k = self.kernel_size
            return F.max_pool3d(zr, (k, 1, 1), stride=1, padding=(k // 2, 0, 0))
        if self.mode == 'conv':
            return self.temporal_conv(zr)
        return torch.cat([zr[:, :, :1], zr[:, :, :-1]], dim=2)

    def forward_tokens(self, z: torch.Tensor) -> torch.Tensor:
        """The same computation on a channels-last token layout.

        Args:
            z: ``(B, T, N, C)``: ``N`` spatial positions per frame.

        Returns:
            ``(B, T, N, C)``. The 1x1 convs run as matrix products on the
            tokens and the gate recomputes its sigmoid in backward, so no
            full-width activation is copied or stored beyond ``z`` and the
            gate's input.
        """
        C = z.shape[-1]
        zr = batch_norm_last_dim(self.bn1, F.linear(z, self.conv1.weight.reshape(-1, C)))
        # The reference op works channel-first; zr is C/r wide, so the permute is cheap.
        d = zr - self.reference(zr.permute(0, 3, 1, 2).unsqueeze(-1)).squeeze(-1).permute(
            0, 2, 3, 1
        )
        y = 0.5 * d + 0.5 * d.mean(dim=-1, keepdim=True)
        y = batch_norm_last_dim(self.bn2, F.linear(y, self.conv2.weight.reshape(C, -1)))
        return sigmoid_gate(z, y)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, C, T, H, W)``."""
        B, C, T, H, W = z.shape
        frames = z.transpose(1, 2).reshape(B * T, C, H, W)
        zr = self.bn1(self.conv1(frames))
        zr = zr.reshape(B, T, -1, H, W).transpose(1, 2)
        d = zr - self.reference(zr)
        y = 0.5 * d + 0.5 * d.mean(dim=1, keepdim=True)
        y = y.transpose(1, 2).reshape(B * T, -1, H, W)
        y = self.bn2(self.conv2(y)).reshape(B, T, C, H, W).transpose(1, 2)
        return z + z * (torch.sigmoid(y) - 0.5)
