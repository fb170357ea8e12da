"""A frame-averaging baseline over the same frozen backbone."""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.model import BaseModule


@MODELS.register_module()
class FrameAveragingNeck(BaseModule):
    """Per-frame features of the last frozen layer, no temporal modelling.

    Each centre frame's tokens are averaged, passed through a trainable
    ``LayerNorm -> Linear -> GELU``, and returned as ``(B, D, T, 1, 1)`` so
    that the head's mean over time is a plain frame average. A video and its
    time reversal get the same score by construction.

    Args:
        num_frames: ``T``.
        num_local_frames: ``n`` (the neighbours are ignored).
        side_dim: Feature width ``D``.
        in_channels, num_layers, patch_size, grid_size: Backbone geometry,
            filled in by :class:`TDSCLIPRecognizer`.
    """

    def __init__(
        self,
        num_frames: int = 8,
        num_local_frames: int = 1,
        side_dim: int = 320,
        in_channels: Optional[int] = None,
        num_layers: Optional[int] = None,
        patch_size: Optional[int] = None,
        grid_size: Optional[Tuple[int, int]] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_frames = num_frames
        self.num_local_frames = num_local_frames
        self.side_dim = side_dim
        self.patch_size = patch_size
        self.grid_size = tuple(grid_size)
        self.side_layers = [num_layers - 1]
        self.proj = nn.Sequential(
            nn.LayerNorm(in_channels), nn.Linear(in_channels, side_dim), nn.GELU()
        )

    def check_input(self, frames: torch.Tensor) -> None:
        expected = self.num_frames * self.num_local_frames
        if frames.dim() != 5 or frames.shape[2] != expected:
            raise ValueError(
                f'FrameAveragingNeck expects (B, 3, {expected}, H, W) clips, got '
                f'{tuple(frames.shape)}.'
            )

    def forward(self, frames: torch.Tensor, clip_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(B, 3, T*n, H, W)``, ``[(B*T, N+1, W)] -> (B, D, T, 1, 1)``."""
        tokens = clip_features[-1].to(self.proj[0].weight.dtype).mean(dim=1)
        x = self.proj(tokens).reshape(frames.shape[0], self.num_frames, self.side_dim)
        return x.transpose(1, 2)[..., None, None]
