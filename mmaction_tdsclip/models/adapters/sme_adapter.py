"""The SME-Adapter (Side Motion Enhancement) of TDS-CLIP, spec section 3."""

import torch
import torch.nn as nn
from mmaction.registry import MODELS


def local_frame_differences(frames: torch.Tensor) -> torch.Tensor:
    """Differences of consecutive frames inside each local window.

    Args:
        frames: ``(B, C, T, n, H, W)``: T windows of n consecutive frames.

    Returns:
        ``(B, (n-1) * C, T, H, W)``, channel block ``k`` holding
        ``frame[k+1] - frame[k]`` of every window.
    """
    diffs = frames[:, :, :, 1:] - frames[:, :, :, :-1]
    B, C, T, K, H, W = diffs.shape
    return diffs.permute(0, 3, 1, 2, 4, 5).reshape(B, K * C, T, H, W)


@MODELS.register_module()
class SMEAdapter(nn.Module):
    """Embeds the short-range motion around each sampled frame.

    The ``n - 1`` differences of consecutive frames in each window are
    stacked on channels and embedded like the appearance stem:
    ``Conv3d(kernel (3, p, p), stride (1, p, p), padding 1) -> BatchNorm3d``.

    Args:
        out_channels: Embedding width ``D``.
        num_local_frames: Window size ``n`` (>= 2).
        patch_size: Spatial kernel and stride ``p``.
        in_channels: Channels per frame (3 for RGB).
    """

    def __init__(
        self,
        out_channels: int,
        num_local_frames: int = 5,
        patch_size: int = 16,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if num_local_frames < 2:
            raise ValueError(
                'SMEAdapter needs num_local_frames >= 2 (one frame has no motion); '
                'disable it with use_sme=False instead.'
            )
        self.num_local_frames = num_local_frames
        self.conv = nn.Conv3d(
            (num_local_frames - 1) * in_channels,
            out_channels,
            (3, patch_size, patch_size),
            stride=(1, patch_size, patch_size),
            padding=(1, 1, 1),
        )
        self.bn = nn.BatchNorm3d(out_channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, n, H, W) -> (B, D, T, H/p, W/p)``."""
        if frames.shape[3] != self.num_local_frames:
            raise ValueError(
                f'SMEAdapter expects windows of {self.num_local_frames} frames, got '
                f'{frames.shape[3]} (input layout (B, C, T, n, H, W)).'
            )
        return self.bn(self.conv(local_frame_differences(frames)))
