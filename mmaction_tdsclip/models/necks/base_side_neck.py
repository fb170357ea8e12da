"""What :class:`TDSCLIPRecognizer` relies on in a side-network neck."""

from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule

from ...window_layout import WindowLayout

# Constructor arguments that TDSCLIPRecognizer fills in from the frozen backbone.
BACKBONE_GEOMETRY = ('in_channels', 'num_layers', 'patch_size', 'grid_size')


class BaseSideNeck(BaseModule):
    """Base of the necks that run beside a frozen per-layer token backbone.

    The recognizer builds the neck with the backbone's geometry
    (:data:`BACKBONE_GEOMETRY`), calls :meth:`check_input` once per forward,
    feeds :meth:`centre_frames` to the backbone with
    ``out_layers=side_layers``, and passes the clip and the returned tokens
    to :meth:`forward`. It reads ``side_dim`` to check the head's width.

    Args:
        num_segments: ``T``, segments per view.
        num_local_frames: ``n``, frames per window (odd).
        side_dim: Width ``D`` of the features :meth:`forward` returns.
        side_layers: Frozen-layer indices whose tokens :meth:`forward` takes.
        patch_size: Frozen patch size ``p``.
        grid_size: Patch grid ``(h, w)`` of the frozen backbone.
        init_cfg: OpenMMLab init config.
    """

    def __init__(
        self,
        num_segments: int,
        num_local_frames: int,
        side_dim: int,
        side_layers: Sequence[int],
        patch_size: int,
        grid_size: Tuple[int, int],
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.layout = WindowLayout(num_segments, num_local_frames)
        self.side_dim = side_dim
        self.side_layers: List[int] = list(side_layers)
        self.patch_size = patch_size
        self.grid_size = tuple(grid_size)

    @property
    def num_segments(self) -> int:
        return self.layout.num_segments

    @property
    def num_local_frames(self) -> int:
        return self.layout.num_local_frames

    def check_input(self, frames: torch.Tensor) -> None:
        """Raise a clear error when a clip ``(M, 3, T*n, H, W)`` does not fit the model."""
        T, n = self.num_segments, self.num_local_frames
        if frames.dim() != 5 or frames.shape[1] != 3 or frames.shape[2] != T * n:
            raise ValueError(
                f'{type(self).__name__} expects clips of shape (M, 3, T*n, H, W) with T*n = {T}*'
                f'{n} = {T * n} frames, got {tuple(frames.shape)}. Make the sampler produce '
                'num_segments x num_local_frames frames matching model.neck.num_segments and '
                'model.neck.num_local_frames.'
            )
        p = self.patch_size
        if any(s % p for s in frames.shape[-2:]) or (
            tuple(s // p for s in frames.shape[-2:]) != self.grid_size
        ):
            raise ValueError(
                f'Input size {tuple(frames.shape[-2:])} does not give the {self.grid_size} '
                f'patch grid of the backbone (patch {p}); crop to '
                f'{self.grid_size[0] * p}x{self.grid_size[1] * p}.'
            )

    def centre_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``(M, 3, T*n, H, W) -> (M*T, 3, H, W)``: the frames the frozen backbone sees."""
        centre = self.layout.centre_frames(frames)  # (M, 3, T, H, W)
        return centre.transpose(1, 2).flatten(0, 1)

    def forward(self, frames: torch.Tensor, clip_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Side features of checked clips.

        Args:
            frames: ``(M, 3, T*n, H, W)``, already passed through
                :meth:`check_input`.
            clip_features: Tokens of the ``side_layers``, each
                ``(M*T, N+1, W)``, class token first.

        Returns:
            ``(M, D, T, h', w')`` features for the head.
        """
        raise NotImplementedError
