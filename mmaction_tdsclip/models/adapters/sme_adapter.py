"""The SME-Adapter (Side Motion Enhancement) of TDS-CLIP (``docs/model.md`` section 3)."""

from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from ..layers import conv_bn_tokens


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
    ``Conv3d(kernel_size, stride, padding) -> BatchNorm3d``. The defaults
    are TDS-CLIP's: kernel ``(3, p, p)``, stride ``(1, p, p)``, padding
    ``(1, 1, 1)``, giving ``(B, D, T, H/p, W/p)``.

    Args:
        out_channels: Embedding width ``D``.
        num_local_frames: Window size ``n`` (>= 2).
        patch_size: ``p``, the default spatial kernel and stride.
        in_channels: Channels per frame (3 for RGB).
        kernel_size: ``(t, k, k)`` conv kernel; ``(3, p, p)`` when None.
        stride: Conv stride; ``(1, p, p)`` when None.
        padding: Conv padding; ``(1, 1, 1)`` when None.
    """

    def __init__(
        self,
        out_channels: int,
        num_local_frames: int = 5,
        patch_size: int = 16,
        in_channels: int = 3,
        kernel_size: Optional[Tuple[int, int, int]] = None,
        stride: Optional[Tuple[int, int, int]] = None,
        padding: Optional[Tuple[int, int, int]] = None,
    ) -> None:
        super().__init__()
        if num_local_frames < 2:
            raise ValueError(
                f'{type(self).__name__} needs num_local_frames >= 2 (one frame has no motion); '
                'disable it with use_sme=False instead.'
            )
        self.num_local_frames = num_local_frames
        p = patch_size
        self.conv = nn.Conv3d(
            (num_local_frames - 1) * in_channels,
            out_channels,
            tuple(kernel_size) if kernel_size is not None else (3, p, p),
            stride=tuple(stride) if stride is not None else (1, p, p),
            padding=tuple(padding) if padding is not None else (1, 1, 1),
        )
        self.bn = nn.BatchNorm3d(out_channels)

    def _check(self, windows: torch.Tensor) -> None:
        if windows.shape[3] != self.num_local_frames:
            raise ValueError(
                f'{type(self).__name__} expects windows of {self.num_local_frames} frames, got '
                f'{windows.shape[3]} (input layout (B, C, T, n, H, W)).'
            )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, n, H, W) -> (B, D, T', H', W')`` (``(B, D, T, H/p, W/p)`` by default)."""
        self._check(windows)
        return self.bn(self.conv(local_frame_differences(windows)))

    def forward_tokens(self, windows: torch.Tensor) -> torch.Tensor:
        """The same computation, channels-last: ``(B, C, T, n, H, W) -> (B, T', H'*W', D)``.

        A patchifying convolution (the default) runs as one matrix product
        (:func:`~mmaction_tdsclip.models.layers.conv_bn_tokens`).
        """
        self._check(windows)
        return conv_bn_tokens(self.conv, self.bn, local_frame_differences(windows))
