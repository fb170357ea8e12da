"""Writing a video with the predicted classes drawn on every frame.

What MMAction2's ``demo/demo.py --out-filename`` does with moviepy, done
with PyAV (reading, any container the decoders read) and OpenCV (drawing,
writing ``.mp4`` / ``.avi``), which the plugin already depends on.
"""

import os
import os.path as osp
from typing import Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np

_FOURCC = {'.mp4': 'mp4v', '.avi': 'XVID'}


def draw_labels(
    frame: np.ndarray,
    ranked: Sequence[Tuple[str, float]],
    font_scale: Optional[float] = None,
    color: Tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """``frame`` (H, W, 3 uint8, BGR) with one ``name: score`` line per class, top left.

    Each line is white on a dark outline, so it reads on any background.
    Unless ``font_scale`` is given, the font scales with the frame height and
    shrinks until the longest line fits the frame's width.
    """
    out = frame.copy()
    lines = [f'{name}: {score:.3f}' for name, score in ranked]
    font = cv2.FONT_HERSHEY_DUPLEX
    height, width = frame.shape[:2]
    # Scale with the frame height, shrunk so that the longest line fits the width.
    widest = max(cv2.getTextSize(line, font, 1.0, 2)[0][0] for line in lines)
    scale = font_scale or min(max(height / 480, 0.3), 0.95 * width / widest)
    thickness = max(int(round(scale * 2)), 1)
    line_height = max(int(cv2.getTextSize('Ag', font, scale, thickness)[0][1] * 1.8), 1)
    for row, text in enumerate(lines):
        origin = (max(int(0.02 * width), 1), line_height * (row + 1))
        cv2.putText(out, text, origin, font, scale, (0, 0, 0), thickness + 2)
        cv2.putText(out, text, origin, font, scale, color, thickness)
    return out


def _video_frames(path: str) -> Tuple[Iterator[np.ndarray], float]:
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 30)

    def frames():
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format='bgr24')
        finally:
            container.close()

    return frames(), fps


def _folder_frames(folder: str, filename_tmpl: str, start_index: int, total_frames: int):
    for i in range(start_index, start_index + total_frames):
        path = osp.join(folder, filename_tmpl.format(i))
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f'{path} cannot be read as an image.')
        yield image


def write_labelled_video(
    video: str,
    ranked: Sequence[Tuple[str, float]],
    out_filename: str,
    fps: Optional[float] = None,
    frame_layout: Optional[Tuple[str, int, int]] = None,
    font_scale: Optional[float] = None,
) -> int:
    """Write ``video`` with the ``ranked`` classes drawn on every frame.

    Args:
        video: A video file, or a frame folder (then ``frame_layout``).
        ranked: ``[(name, score), ...]``, best first.
        out_filename: ``.mp4`` or ``.avi``.
        fps: Frame rate of the output; the input's for a video file, 30
            for a frame folder, when None.
        frame_layout: ``(filename_tmpl, start_index, total_frames)`` of a
            frame folder.
        font_scale: OpenCV font scale (from the frame height when None).

    Returns:
        The number of frames written.
    """
    ext = osp.splitext(out_filename)[1].lower()
    if ext not in _FOURCC:
        raise ValueError(
            f'--out-filename {out_filename}: write a {" or ".join(_FOURCC)} file '
            f'(not {ext or "no extension"}).'
        )
    if osp.isdir(video):
        if frame_layout is None:
            raise ValueError(f'{video} is a frame folder: give its frame_layout.')
        frames, source_fps = _folder_frames(video, *frame_layout), 30.0
    else:
        frames, source_fps = _video_frames(video)
    os.makedirs(osp.dirname(osp.abspath(out_filename)), exist_ok=True)
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(
                    out_filename,
                    cv2.VideoWriter_fourcc(*_FOURCC[ext]),
                    fps or source_fps,
                    (width, height),
                )
                if not writer.isOpened():
                    raise OSError(f'OpenCV cannot write {out_filename}.')
            writer.write(draw_labels(frame, ranked, font_scale))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError(f'{video} has no frames to write.')
    return count
