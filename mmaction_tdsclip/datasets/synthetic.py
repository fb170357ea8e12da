"""Small synthetic videos whose frames carry their own index.

Used by the tests, ``tools/benchmark_dataloading.py`` and smoke checks. Frame
``i`` shows ``bits`` vertical stripes, stripe ``b`` bright when bit ``b`` of
``i`` is set, so the index survives lossy coding and can be read back with
:func:`read_frame_index`.
"""

import os
import os.path as osp
import sys
from typing import Optional

import cv2
import numpy as np

_DARK, _BRIGHT = 30, 220


def index_pattern(index: int, height: int, width: int, bits: int = 8) -> np.ndarray:
    """Frame ``index`` as ``(height, width, 3)`` uint8 RGB stripes."""
    columns = np.arange(width) * bits // width
    on = (index >> columns) & 1
    row = np.where(on, _BRIGHT, _DARK).astype(np.uint8)
    img = np.broadcast_to(row[None, :, None], (height, width, 3)).copy()
    # A colour cast that changes with the index, so colour ops have an
    # effect on an otherwise grey clip.
    img[..., 0] = np.clip(img[..., 0].astype(int) + (index * 7) % 30, 0, 255)
    return img


def read_frame_index(img: np.ndarray, bits: int = 8) -> int:
    """Inverse of :func:`index_pattern` on a decoded ``(H, W, 3)`` frame.

    Reads the top quarter of the frame (the part ``texture`` leaves alone).
    """
    width = img.shape[1]
    top = img[: max(1, img.shape[0] // 4)].astype(np.float32)
    gray = top.mean(axis=(0, 2))
    value = 0
    for b in range(bits):
        lo, hi = b * width // bits, (b + 1) * width // bits
        # Skip the stripe borders, blurred by chroma subsampling.
        margin = (hi - lo) // 4
        if gray[lo + margin : hi - margin].mean() > (_DARK + _BRIGHT) / 2:
            value |= 1 << b
    return value


def write_video(
    path: str,
    num_frames: int,
    height: int = 64,
    width: int = 96,
    fps: int = 12,
    codec: str = 'libx264',
    faststart: bool = False,
    bits: int = 8,
    texture: bool = False,
    gop_size: Optional[int] = None,
    pix_fmt: Optional[str] = None,
) -> str:
    """Encode an index-pattern video with PyAV.

    Args:
        path: Output file; the container follows its extension.
        num_frames: Number of frames (indices ``0..num_frames-1``).
        height: Frame height.
        width: Frame width (odd sizes use 4:4:4 chroma).
        fps: Frame rate.
        codec: FFmpeg encoder (``libx264``, ``mpeg4``, ``libvpx-vp9``...).
            libvpx encoders fail to open once ``decord`` is imported in the
            same process (its bundled FFmpeg clashes with PyAV's): write
            ``.webm`` files before importing decord or in a subprocess.
        faststart: Put the index (``moov``) before the data in ``.mp4``.
        bits: Stripes per frame, see :func:`index_pattern`.
        texture: Fill the lower half with a random texture panning one
            pixel per frame, so inter-frame coding does real work (for
            speed measurements); the index stays readable.
        gop_size: Key frame interval (the encoder's default when None).
        pix_fmt: Pixel format (default ``yuv420p``, ``yuv444p`` for odd
            sides; MJPEG needs ``yuvj420p``).

    Returns:
        ``path``.
    """
    import av

    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    options = {'movflags': 'faststart'} if faststart else {}
    if pix_fmt is None:
        pix_fmt = 'yuv420p' if height % 2 == 0 and width % 2 == 0 else 'yuv444p'
    with av.open(path, 'w', options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
        if codec == 'libx264':
            stream.options = {'crf': '12'}
        elif codec.startswith('libvpx'):
            if 'decord' in sys.modules:
                raise RuntimeError(
                    'libvpx cannot be opened once decord is imported; write '
                    'webm files before importing decord or in a subprocess'
                )
            stream.options = {'b': '2M'}
        if texture:
            rng = np.random.RandomState(0)
            base = cv2.GaussianBlur(
                rng.randint(0, 256, (height, width + num_frames, 3)).astype(np.uint8), (5, 5), 0
            )
        for i in range(num_frames):
            img = index_pattern(i, height, width, bits)
            if texture:
                img[height // 2 :] = base[height // 2 :, i : i + width]
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(
    directory: str,
    num_frames: int,
    height: int = 64,
    width: int = 96,
    filename_tmpl: str = '{:05}.jpg',
    start_index: int = 1,
    bits: int = 8,
    quality: int = 95,
) -> str:
    """Write an index-pattern clip as numbered JPEG frames (SSv1 layout).

    Frame ``i`` (0-based) goes to ``filename_tmpl.format(i + start_index)``.

    Returns:
        ``directory``.
    """
    os.makedirs(directory, exist_ok=True)
    for i in range(num_frames):
        bgr = index_pattern(i, height, width, bits)[..., ::-1]
        cv2.imwrite(
            osp.join(directory, filename_tmpl.format(i + start_index)),
            np.ascontiguousarray(bgr),
            [cv2.IMWRITE_JPEG_QUALITY, quality],
        )
    return directory


def frame_indices_of(imgs, bits: int = 8, flipped: bool = False) -> np.ndarray:
    """Indices read back from a list of frames (``flipped``: mirror first)."""
    return np.array([read_frame_index(img[:, ::-1] if flipped else img, bits) for img in imgs])
