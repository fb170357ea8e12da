"""A frame-averaging baseline over the same frozen backbone."""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from .base_side_neck import BaseSideNeck


@MODELS.register_module()
class FrameAveragingNeck(BaseSideNeck):
    """Per-frame features of the last frozen layer, no temporal modelling.

    Each centre frame's tokens are averaged, passed through a trainable
    ``LayerNorm -> Linear -> GELU``, and returned as ``(B, D, T, 1, 1)`` so
    that the head's mean over time is a plain frame average. A video and its
    time reversal get the same score by construction.

    Args:
        num_segments: ``T``.
        num_local_frames: ``n`` (the neighbours are ignored).
        side_dim: Feature width ``D``.
        in_channels, num_layers, patch_size, grid_size: Backbone geometry,
            filled in by :class:`TDSCLIPRecognizer`.
    """

    def __init__(
        self,
        num_segments: int = 8,
        num_local_frames: int = 1,
        side_dim: int = 320,
        in_channels: Optional[int] = None,
        num_layers: Optional[int] = None,
        patch_size: Optional[int] = None,
        grid_size: Optional[Tuple[int, int]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(
            num_segments,
            num_local_frames,
            side_dim,
            [num_layers - 1],
            patch_size,
            grid_size,
            init_cfg=init_cfg,
        )
        self.proj = nn.Sequential(
            nn.LayerNorm(in_channels), nn.Linear(in_channels, side_dim), nn.GELU()
        )

    def forward(self, frames: torch.Tensor, clip_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(B, 3, T*n, H, W)``, ``[(B*T, N+1, W)] -> (B, D, T, 1, 1)``."""
        tokens = clip_features[-1].to(self.proj[0].weight.dtype).mean(dim=1)
        x = self.proj(tokens).reshape(frames.shape[0], self.num_segments, self.side_dim)
        return x.transpose(1, 2)[..., None, None]
