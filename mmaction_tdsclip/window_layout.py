"""The (T, n) window layout of TDS-CLIP clips, in one place.

A view holds ``T`` segments (``num_segments``, the frames the frozen tower
sees), each a window of ``n`` consecutive frames (``num_local_frames``, odd)
centred on the segment's frame. Along the frame axis the ``T*n`` frames are
segment-major: frame ``j`` of segment ``t`` sits at index ``t*n + j``, and
the window's centre is ``j = n // 2``. See ``docs/model.md`` section 1.

The sampler (frame indices, numpy), the recognizer (centre frames), the side
networks and the motion stem (windows of tensors) and the config check all
read the layout through :class:`WindowLayout`. Its methods work on numpy
arrays and torch tensors alike.
"""

from dataclasses import dataclass
from numbers import Integral
from typing import Optional

import numpy as np


def check_num_local_frames(num_local_frames, field: str = 'num_local_frames') -> None:
    """Raise a ValueError naming ``field`` unless ``num_local_frames`` is a positive odd int."""
    if (
        not isinstance(num_local_frames, Integral)
        or num_local_frames < 1
        or num_local_frames % 2 == 0
    ):
        raise ValueError(
            f'{field}={num_local_frames!r} must be a positive odd number: each window is centred '
            "on its segment's frame (5 in the paper, 1 for plain TSN sampling)."
        )


@dataclass(frozen=True)
class WindowLayout:
    """``T`` windows of ``n`` consecutive frames, segment-major.

    Args:
        num_segments: ``T``; None when it is read from each input's length
            (a backbone that takes any number of segments).
        num_local_frames: ``n``, odd.
    """

    num_segments: Optional[int]
    num_local_frames: int

    def __post_init__(self) -> None:
        if self.num_segments is not None and (
            not isinstance(self.num_segments, Integral) or self.num_segments < 1
        ):
            raise ValueError(f'num_segments must be a positive int, got {self.num_segments!r}.')
        check_num_local_frames(self.num_local_frames)

    @property
    def centre(self) -> int:
        """Index of the centre frame inside a window, ``n // 2``."""
        return self.num_local_frames // 2

    @property
    def frames_per_view(self) -> int:
        """``T*n``, the length of a view's frame axis."""
        if self.num_segments is None:
            raise ValueError('frames_per_view needs num_segments.')
        return self.num_segments * self.num_local_frames

    def window_indices(self, offsets: np.ndarray, total_frames: int) -> np.ndarray:
        """Frame indices of the windows centred on ``offsets``.

        Args:
            offsets: ``(..., T)`` 0-based segment frames.
            total_frames: Frames in the video; neighbours beyond either end
                are clamped to the first / last frame.

        Returns:
            ``(..., T, n)`` indices in ``[0, total_frames)``.
        """
        steps = np.arange(-self.centre, self.centre + 1)
        return np.clip(np.asarray(offsets)[..., None] + steps, 0, total_frames - 1)

    def split(self, frames, dim: int = 2):
        """Split the frame axis ``dim`` of length ``T*n`` into ``(T, n)``.

        ``(B, C, T*n, H, W) -> (B, C, T, n, H, W)`` for the default ``dim=2``;
        ``(T*n, ...) -> (T, n, ...)`` for ``dim=0``. A view whose frame count
        is not ``T*n`` (or, with ``num_segments=None``, not a multiple of
        ``n``) raises a ValueError that says how to sample it.
        """
        shape = tuple(frames.shape)
        length, n = shape[dim], self.num_local_frames
        if self.num_segments is None:
            if length % n:
                raise ValueError(
                    f'Expected T*n frames on axis {dim} with n={n}, got {length} (input '
                    f'{shape}); sample with SampleTDSFrames(num_local_frames={n}).'
                )
            segments = length // n
        else:
            segments = self.num_segments
            if length != segments * n:
                raise ValueError(
                    f'Expected T*n = {segments}*{n} = {segments * n} frames on axis {dim}, got '
                    f'{length} (input {shape}); sample with SampleTDSFrames(num_segments='
                    f'{segments}, num_local_frames={n}).'
                )
        return frames.reshape(shape[:dim] + (segments, n) + shape[dim + 1 :])

    def centre_frames(self, frames, dim: int = 2):
        """The frame each window is centred on: ``(B, C, T*n, H, W) -> (B, C, T, H, W)``."""
        windows = self.split(frames, dim)
        return windows[(slice(None),) * (dim + 1) + (self.centre,)]
