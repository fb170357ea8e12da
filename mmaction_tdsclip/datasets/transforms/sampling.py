"""Frame sampling of TDS-CLIP: T segments, each a window of n frames.

``docs/model.md`` section 1. The T segment offsets follow the authors' protocols for
Something-Something (``protocol='sth'``) and Kinetics
(``protocol='kinetics'``); each offset ``o`` is then expanded into the window
``clamp(o - n//2 .. o + n//2, 0, L_v - 1)`` of consecutive raw frames.
"""

from typing import Dict, Optional

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ...window_layout import WindowLayout
from ..bad_samples import handle_bad_sample


@TRANSFORMS.register_module()
class SampleTDSFrames(BaseTransform):
    """Sample ``num_segments`` windows of ``num_local_frames`` frames.

    Output layout (what stock decoders and ``FormatShape('NCTHW')`` expect):
    ``frame_inds`` has ``num_clips * num_segments * num_local_frames``
    entries, clip-major, then segment-major: frame ``j`` of segment ``t`` of
    clip ``c`` sits at ``c*T*n + t*n + j``. ``clip_len = T*n`` and
    ``frame_interval = 1``, as from stock ``SampleFrames``, so after
    ``FormatShape('NCTHW')`` a sample is
    ``(num_clips [x crops], C, T*n, H, W)``.

    Offsets (0-based, ``L`` = ``total_frames``, ``round`` is numpy's
    half-to-even, ``int`` truncates):

    - ``sth``, train: ``L <= T``: all of ``0..L-1`` plus ``T-L`` uniform
      random offsets, sorted; otherwise TSN segments ``ticks_k = k*L // T``
      and offset ``k`` uniform in ``[ticks_k, ticks_{k+1})``.
    - ``sth``, test with ``C`` clips (``C = 1`` is the validation view):
      ``seg = (L-1)/T``, ``dur = seg/(C+1)``,
      ``offset(c, k) = round(seg*k) + int(dur*(c+1))``.
    - ``kinetics``, train: ``seg = (L-1)/T``, offset ``k`` uniform in
      ``[round(seg*k), round(seg*(k+1))]`` (both ends included).
    - ``kinetics``, test with ``C`` clips (``C = 1`` is the validation
      view): ``tick = L/T``, ``starts = int(linspace(0, tick-1, C))``,
      ``offset(c, k) = int(starts_c + tick*k) mod L``.

    A video listed with no frames is a bad sample (skipped in training,
    :class:`~mmaction_tdsclip.datasets.bad_samples.VideoDecodeError` in
    test mode).

    Randomness comes from numpy's global RNG, which mmengine seeds per
    process and per dataloader worker.

    Required keys: ``total_frames``, ``start_index``.
    Added keys: ``frame_inds`` (int32), ``clip_len``, ``frame_interval``,
    ``num_clips``, ``num_segments``, ``num_local_frames``.

    Args:
        num_segments: T, the number of segments (frames seen by CLIP).
        num_local_frames: n, the odd window size around each segment's
            frame (5 in the paper; 1 gives plain TSN-style sampling).
        num_clips: C, temporal views; must be 1 in training.
        protocol: ``'sth'`` (Something-Something) or ``'kinetics'``.
        test_mode: Deterministic validation / test sampling.
    """

    PROTOCOLS = ('sth', 'kinetics')

    def __init__(
        self,
        num_segments: int = 8,
        num_local_frames: int = 5,
        num_clips: int = 1,
        protocol: str = 'sth',
        test_mode: bool = False,
    ) -> None:
        self.layout = WindowLayout(num_segments, num_local_frames)
        if num_clips < 1:
            raise ValueError(f'num_clips must be >= 1, got {num_clips}')
        if not test_mode and num_clips != 1:
            raise ValueError(f'training samples one clip per video (num_clips=1), got {num_clips}')
        if protocol not in self.PROTOCOLS:
            raise ValueError(f'protocol must be one of {self.PROTOCOLS}, got {protocol!r}')
        self.num_segments = num_segments
        self.num_local_frames = num_local_frames
        self.num_clips = num_clips
        self.protocol = protocol
        self.test_mode = test_mode

    def _sth_train(self, num_frames: int) -> np.ndarray:
        t = self.num_segments
        if num_frames <= t:
            extra = np.random.randint(num_frames, size=t - num_frames)
            return np.sort(np.concatenate([np.arange(num_frames), extra]))
        ticks = np.arange(t + 1) * num_frames // t
        return ticks[:-1] + np.random.randint(np.diff(ticks))

    def _sth_test(self, num_frames: int) -> np.ndarray:
        t, c = self.num_segments, self.num_clips
        seg = (num_frames - 1) / t
        dur = seg / (c + 1)
        base = np.round(seg * np.arange(t)).astype(np.int64)
        shifts = np.array([int(dur * (i + 1)) for i in range(c)])
        return shifts[:, None] + base[None, :]

    def _kinetics_train(self, num_frames: int) -> np.ndarray:
        seg = (num_frames - 1) / self.num_segments
        bounds = np.round(seg * np.arange(self.num_segments + 1))
        bounds = bounds.astype(np.int64)
        return np.random.randint(bounds[:-1], bounds[1:] + 1)

    def _kinetics_test(self, num_frames: int) -> np.ndarray:
        tick = num_frames / self.num_segments
        starts = np.linspace(0, tick - 1, self.num_clips).astype(np.int64)
        k = np.arange(self.num_segments)
        offsets = (starts[:, None] + tick * k[None, :]).astype(np.int64)
        return np.mod(offsets, num_frames)

    def sample_offsets(self, num_frames: int) -> np.ndarray:
        """Segment offsets, shape ``(num_clips, num_segments)``, in
        ``[0, num_frames)``."""
        if num_frames < 1:
            raise ValueError(f'cannot sample from a video of {num_frames} frames')
        if self.protocol == 'sth':
            if self.test_mode:
                return self._sth_test(num_frames)
            return self._sth_train(num_frames)[None]
        if self.test_mode:
            return self._kinetics_test(num_frames)
        return self._kinetics_train(num_frames)[None]

    def expand_windows(self, offsets: np.ndarray, num_frames: int) -> np.ndarray:
        """``(..., T)`` offsets -> ``(..., T, n)`` clamped window indices."""
        return self.layout.window_indices(offsets, num_frames)

    def transform(self, results: Dict) -> Optional[Dict]:
        num_frames = int(results['total_frames'])
        if num_frames < 1:
            # A frame folder listed with no frames: skip it in training,
            # name it in testing.
            name = results.get('filename', results.get('frame_dir', '?'))
            handle_bad_sample(str(name), f'{num_frames} frames', self.test_mode)
            return None
        windows = self.expand_windows(self.sample_offsets(num_frames), num_frames)
        frame_inds = windows.reshape(-1) + results.get('start_index', 0)
        results['frame_inds'] = frame_inds.astype(np.int32)
        results['clip_len'] = self.layout.frames_per_view
        results['frame_interval'] = 1
        results['num_clips'] = self.num_clips
        results['num_segments'] = self.num_segments
        results['num_local_frames'] = self.num_local_frames
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}('
            f'num_segments={self.num_segments}, '
            f'num_local_frames={self.num_local_frames}, '
            f'num_clips={self.num_clips}, protocol={self.protocol!r}, '
            f'test_mode={self.test_mode})'
        )
