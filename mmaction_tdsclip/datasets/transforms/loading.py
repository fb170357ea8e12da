"""Video loading that returns exactly the frames asked for and refuses bad files.

The windows of :class:`SampleTDSFrames` overlap (and clamp at the ends), so
``frame_inds`` repeats frames. These transforms decode ``np.unique`` of the
indices once, then gather them back into the requested order.

Exact frames. Frame ``i`` is the ``i``-th frame a full sequential decode
outputs. :class:`PyAVVideo` reads every video packet's presentation
timestamp when the file is opened, seeks to the key frame before each
needed frame, decodes forward and identifies each output frame by its
timestamp, so a mis-seek cannot shift frames. Frames nobody asked for that
no other frame references are not decoded at all (``skip_frame='NONREF'``),
which is where its speed comes from. decord 0.6 seeks wrongly in some
VP8/VP9 ``.webm`` files: :class:`TDSDecordInit` hands decord only the codecs
:data:`DECORD_EXACT_CODECS` (tested against a sequential decode) and routes
every other codec to :class:`PyAVVideo`.

Bad samples. A file that cannot be opened or decoded, is not a regular file
or is larger than ``max_file_size``, holds fewer frames than its container
promises, has a gap in its timestamps, has fewer than ``min_frames``
frames, frames with a side below ``min_size``, an aspect ratio above
``max_aspect_ratio`` or more than ``max_pixels`` pixels, or takes longer than
``timeout`` seconds, is reported through
:func:`~mmaction_tdsclip.datasets.bad_samples.handle_bad_sample`: in
training the transform returns ``None`` (mmengine's ``BaseDataset`` then
draws another sample) and the skip is counted; with ``test_mode=True`` a
:class:`~mmaction_tdsclip.datasets.bad_samples.VideoDecodeError` naming the
file is raised.
"""

import bisect
import contextlib
import io
import os
import os.path as osp
import stat
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmaction.datasets.transforms.loading import (
    DecordDecode,
    DecordInit,
    PyAVDecode,
    PyAVInit,
    RawFrameDecode,
)
from mmaction.registry import TRANSFORMS
from mmengine.fileio import FileClient

from ..bad_samples import handle_bad_sample

#: Codecs for which decord 0.6's ``get_batch`` returned exactly the frames of
#: a sequential decode in ``tests/datasets/test_exact_frames.py`` (H.264 in
#: mp4 with the index first or last and in mkv, with B-frames and several key
#: frames; MPEG-4 part 2; MJPEG). Other codecs (VP8 and VP9 above all) are
#: decoded by :class:`PyAVVideo`.
DECORD_EXACT_CODECS = ('h264', 'mpeg4', 'mjpeg')

#: Defaults of the file checks shared by the Init transforms.
MAX_FILE_SIZE = 2 * 1024**3
MAX_ASPECT_RATIO = 6.0
MAX_PIXELS = 4096 * 2304
MAX_TIMESTAMP_GAP = 5.0
FRAME_COUNT_TOLERANCE = 0.1


class DecodeTimeoutError(TimeoutError):
    """Decoding took longer than the allowed time."""


def call_with_timeout(fn: Callable[[], Any], timeout: Optional[float]) -> Any:
    """Run ``fn()``; raise :class:`DecodeTimeoutError` after ``timeout`` s.

    A decoder stuck inside C code cannot be interrupted by a signal, so the
    call runs in a daemon thread that is abandoned on timeout (it does not
    keep the process alive at exit). ``timeout=None`` calls ``fn`` directly.
    """
    if timeout is None:
        return fn()
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box['value'] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box['error'] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise DecodeTimeoutError(f'decoding took longer than {timeout} s')
    if 'error' in box:
        raise box['error']
    return box['value']


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0][:200] if text else ""}'


def unique_frame_indices(frame_inds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Sorted distinct indices and, per requested index, its position there.

    ``unique[inverse]`` reproduces ``frame_inds``.
    """
    unique, inverse = np.unique(np.asarray(frame_inds).reshape(-1), return_inverse=True)
    return unique, inverse.reshape(-1)


def check_frames(frames: Sequence[np.ndarray], expected: int, min_size: int) -> None:
    """Sanity of decoded frames: ``expected`` RGB ``(H, W, 3)`` arrays of one
    size, with sides of at least ``min_size``.

    Raises:
        ValueError: on a wrong count, shape or a side below ``min_size``.
    """
    if len(frames) != expected:
        raise ValueError(f'decoded {len(frames)} frames, expected {expected}')
    shapes = {frame.shape for frame in frames}
    if len(shapes) != 1:
        raise ValueError(f'frames of different shapes {sorted(shapes)}')
    shape = shapes.pop()
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f'decoded frames have shape {shape}, expected (H, W, 3)')
    if min(shape[:2]) < min_size:
        raise ValueError(f'frame size {shape[0]}x{shape[1]} is below the minimum side {min_size}')


def gather_frames(frames: Sequence[np.ndarray], inverse: np.ndarray) -> List[np.ndarray]:
    """``[frames[k] for k in inverse]`` where every entry is its own array.

    Later in-place transforms (``Flip`` uses ``imflip_``) must not reach one
    frame twice through two list entries, so a frame requested again is a
    copy; first uses stay views (no copy when nothing repeats).
    """
    seen = set()
    out = []
    for k in inverse.tolist():
        if k in seen:
            out.append(frames[k].copy())
        else:
            seen.add(k)
            out.append(frames[k])
    return out


def _set_images(results: Dict, frames: Sequence[np.ndarray], inverse: np.ndarray) -> Dict:
    results['imgs'] = gather_frames(frames, inverse)
    results['original_shape'] = frames[0].shape[:2]
    results['img_shape'] = frames[0].shape[:2]
    return results


def check_local_file(filename: str, max_file_size: Optional[int]) -> None:
    """Refuse, before reading it, a path that is not a regular file (a FIFO,
    a device such as ``/dev/zero``, a folder; links are resolved) or is
    larger than ``max_file_size`` bytes (None: no limit).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: not a regular file, or too large.
    """
    real = osp.realpath(filename)
    info = os.stat(real)
    if not stat.S_ISREG(info.st_mode):
        where = '' if real == osp.abspath(filename) else f' (it resolves to {real})'
        raise ValueError(f'not a regular file{where}')
    if max_file_size is not None and info.st_size > max_file_size:
        raise ValueError(
            f'the file has {info.st_size} bytes, more than max_file_size={max_file_size}; '
            'raise max_file_size of the Init transform if the file is genuine'
        )


def check_frame_geometry(
    width: int, height: int, max_aspect_ratio: Optional[float], max_pixels: Optional[int]
) -> None:
    """Refuse frame sizes that the shipped resizes would blow up in memory
    (a 4000 x 16 video resized to short side 256 is 64000 x 256 per frame).

    Raises:
        ValueError: an aspect ratio above ``max_aspect_ratio`` or more than
            ``max_pixels`` pixels per frame (None: no limit).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f'the video stream has no frame size ({width}x{height})')
    ratio = max(width, height) / min(width, height)
    if max_aspect_ratio is not None and ratio > max_aspect_ratio:
        raise ValueError(
            f'frames of {width}x{height} have an aspect ratio of {ratio:.1f}, above '
            f'max_aspect_ratio={max_aspect_ratio}; raise it in the Init transform if such '
            'videos are genuine'
        )
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f'frames of {width}x{height} have {width * height} pixels, more than '
            f'max_pixels={max_pixels}; downscale the videos or raise max_pixels'
        )


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _stderr_silenced():
    """Send the process's C-level stderr (fd 2) to /dev/null for the block
    (one block at a time; other threads' C-level messages are lost
    meanwhile)."""
    with _stderr_lock:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


class _TimestampMismatch(Exception):
    """The decoder's output timestamps do not match the packets' ones."""


class PyAVVideo:
    """An open video with the presentation timestamp of every frame, for
    exact random access with PyAV.

    Opening demuxes every packet of the first video stream (no decoding):
    the sorted timestamps number the frames in presentation order, exactly
    as a sequential decode outputs them (packets the demuxer marks as
    discarded, e.g. edit-list pre-roll, are not frames), and key frames mark
    where decoding may start.

    Attributes:
        filename: Name used in messages.
        codec: FFmpeg decoder name (``h264``, ``vp9``...).
        width, height: Frame size from the stream header.
        num_frames: Frames in the file (packets, not the header's claim).
        fps: Average frame rate (0.0 when unknown).

    Args:
        data: The whole file.
        filename: Name used in messages.
    """

    def __init__(self, data: bytes, filename: str = '<video>') -> None:
        from av.video.reformatter import VideoReformatter

        self.filename = filename
        self._data = data
        self._reformatter = VideoReformatter()
        self._open()
        stream = self.stream
        ctx = stream.codec_context
        self.codec = ctx.name
        self.width, self.height = ctx.width, ctx.height
        timestamps, keys = [], []
        for packet in self.container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            timestamps.append(packet.pts if packet.pts is not None else packet.dts)
            keys.append(packet.is_keyframe)
        self.num_frames = len(timestamps)
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        # Exact random access needs one distinct timestamp per frame.
        self.seekable = None not in timestamps and len(set(timestamps)) == len(timestamps)
        self.pts: List[int] = sorted(timestamps) if self.seekable else []
        self._index_of = {t: i for i, t in enumerate(self.pts)}
        self.keyframes: List[int] = (
            sorted(self._index_of[t] for t, key in zip(timestamps, keys) if key)
            if self.seekable
            else []
        )
        self._fresh = False

    def _open(self) -> None:
        import av

        self.container = av.open(io.BytesIO(self._data))
        if not self.container.streams.video:
            self.container.close()
            raise ValueError('the file has no video stream')
        self.stream = self.container.streams.video[0]
        self._fresh = True
        self._drained = False

    def close(self) -> None:
        self.container.close()

    def _to_rgb(self, frame: Any) -> np.ndarray:
        # One reformatter per video keeps FFmpeg's conversion context.
        return self._reformatter.reformat(frame, format='rgb24').to_ndarray()

    # ------------------------------------------------------------ checks
    def promised_frames(self) -> Tuple[Optional[int], str]:
        """Frames the container promises, and where the promise comes from:
        the header's frame count, else the video duration x frame rate."""
        stream = self.stream
        if stream.frames and stream.frames > 0:
            return int(stream.frames), 'the header states'
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif 'DURATION' in stream.metadata:  # Matroska per-track tag
            try:
                h, m, s = stream.metadata['DURATION'].split(':')
                duration = int(h) * 3600 + int(m) * 60 + float(s)
            except ValueError:
                duration = None
        if duration is None and self.container.duration:
            duration = self.container.duration / 1e6
        if duration is not None and not stream.duration and self.pts:
            # Matroska durations run from time 0, not from the first frame.
            duration -= max(0.0, float(self.pts[0] * stream.time_base))
        if duration and duration > 0 and self.fps:
            return int(round(duration * self.fps)), (
                f'its duration ({duration:.2f} s x {self.fps:.4g} fps) promises'
            )
        return None, ''

    def check(
        self,
        min_frames: int = 1,
        frame_count_tolerance: Optional[float] = FRAME_COUNT_TOLERANCE,
        max_timestamp_gap: Optional[float] = MAX_TIMESTAMP_GAP,
        max_aspect_ratio: Optional[float] = MAX_ASPECT_RATIO,
        max_pixels: Optional[int] = MAX_PIXELS,
    ) -> None:
        """Raise ``ValueError`` naming the first problem found (see the
        module docstring); None disables a check."""
        check_frame_geometry(self.width, self.height, max_aspect_ratio, max_pixels)
        if self.num_frames < min_frames:
            raise ValueError(f'{self.num_frames} frames, at least {min_frames} needed')
        if max_timestamp_gap is not None and self.seekable and self.num_frames > 2:
            steps = np.diff(np.asarray(self.pts, dtype=np.float64))
            step = float(np.median(steps))
            worst = int(np.argmax(steps))
            if step > 0 and steps[worst] > max_timestamp_gap * step:
                seconds = float(steps[worst] * self.stream.time_base)
                raise ValueError(
                    f'its timestamps jump by {steps[worst] / step:.1f} frame durations '
                    f'({seconds:.3g} s) after frame {worst}, more than '
                    f'max_timestamp_gap={max_timestamp_gap} (frames are missing)'
                )
        if frame_count_tolerance is not None:
            promised, source = self.promised_frames()
            if promised and self.num_frames < promised * (1 - frame_count_tolerance) - 1:
                raise ValueError(
                    f'{source} {promised} frames but the file holds only {self.num_frames} '
                    '(truncated or damaged)'
                )

    # ---------------------------------------------------------- decoding
    def decode(self, unique: np.ndarray, skip_unneeded: bool = True) -> List[np.ndarray]:
        """RGB ``(H, W, 3)`` uint8 frames at the sorted distinct ``unique``.

        Raises:
            ValueError: an index outside the video, or a requested frame the
                decoder does not output (damaged data).
        """
        if len(unique) and (unique[0] < 0 or unique[-1] >= self.num_frames):
            raise ValueError(
                f'frame {int(unique[-1])} requested from a video of {self.num_frames} frames'
            )
        if self.seekable:
            try:
                return self._decode_by_timestamp(unique, skip_unneeded)
            except _TimestampMismatch:
                pass
        return self._decode_sequential(unique)

    def _restart(self, keyframe: int) -> None:
        """Position the demuxer so that decoding starts at ``keyframe``."""
        import av

        if self._fresh:  # nothing read since opening
            if keyframe == 0:
                return
        try:
            self.container.seek(
                self.pts[keyframe], stream=self.stream, backward=True, any_frame=False
            )
            self._drained = False
        except av.error.FFmpegError:
            self.container.close()
            self._open()
        self._fresh = False

    def _decode_by_timestamp(self, unique: np.ndarray, skip_unneeded: bool) -> List[np.ndarray]:
        wanted = set(int(i) for i in unique)
        out: Dict[int, np.ndarray] = {}
        position = None  # index of the last frame output since the last restart
        for target in (int(i) for i in unique):
            if target in out:
                continue
            k = bisect.bisect_right(self.keyframes, target) - 1
            keyframe = self.keyframes[k] if k >= 0 else 0
            if position is None or self._drained or position >= target or keyframe > position + 1:
                self._restart(keyframe)
                position = keyframe - 1
            position = self._decode_until(target, wanted, out, skip_unneeded, position)
            if target not in out:
                raise ValueError(f'frame {target} did not decode (damaged data)')
        return [out[int(i)] for i in unique]

    def _decode_until(
        self, target: int, wanted: set, out: Dict[int, np.ndarray], skip: bool, position: int
    ) -> int:
        """Decode from the current demuxer position until frame ``target``
        comes out; store the wanted frames in ``out``; return the index of
        the last frame output."""
        self._fresh = False
        ctx = self.stream.codec_context
        try:
            for packet in self.container.demux(self.stream):
                if packet.size and skip:
                    index = self._index_of.get(packet.pts)
                    ctx.skip_frame = 'DEFAULT' if index is None or index in wanted else 'NONREF'
                # Every frame this packet releases is kept (a flush releases
                # several), so the loop stops only between packets.
                for frame in ctx.decode(packet if packet.size else None):
                    index = self._index_of.get(frame.pts)
                    if index is None:
                        raise _TimestampMismatch()
                    position = index
                    if index in wanted and index not in out:
                        out[index] = self._to_rgb(frame)
                if not packet.size:  # end of the stream: the decoder is drained
                    self._drained = True
                if position >= target:
                    return position
        finally:
            ctx.skip_frame = 'DEFAULT'
        return position

    def _decode_sequential(self, unique: np.ndarray) -> List[np.ndarray]:
        """Decode from the start, numbering frames in output order."""
        self.container.close()
        self._open()
        self._fresh = False
        wanted = set(int(i) for i in unique)
        last = int(unique[-1])
        out: Dict[int, np.ndarray] = {}
        index = -1
        for index, frame in enumerate(self.container.decode(self.stream)):
            if index in wanted:
                out[index] = self._to_rgb(frame)
            if index >= last:
                break
        if index < last:
            raise ValueError(f'the stream ended after {index + 1} frames, frame {last} requested')
        return [out[int(i)] for i in unique]


class _DistinctFramesDecodeMixin:
    """Shared ``transform`` of the video decoders: each distinct frame of
    ``frame_inds`` is decoded once by the subclass's ``_decode(reader,
    unique)``, under a timeout; a bad video is reported, and skipped in
    training (None) or raised in testing."""

    def transform(self, results: Dict) -> Optional[Dict]:
        reader = results.pop('video_reader')
        results['video_reader'] = None
        self._check_reader(reader)
        unique, inverse = unique_frame_indices(results['frame_inds'])
        try:
            frames = call_with_timeout(lambda: self._decode_and_close(reader, unique), self.timeout)
        except Exception as e:
            handle_bad_sample(results['filename'], _describe(e), self.test_mode)
            return None
        return _set_images(results, frames, inverse)

    def _decode_and_close(self, reader: Any, unique: np.ndarray) -> Sequence[np.ndarray]:
        # Closed by the thread that decodes: a timed-out decode may still be
        # using the container.
        try:
            return self._decode(reader, unique)
        finally:
            if isinstance(reader, PyAVVideo):
                reader.close()

    def _check_reader(self, reader: Any) -> None:
        pass


class _FileChecksMixin:
    """Reading a file for the Init transforms: the local-file checks, then
    a :class:`PyAVVideo` with its frame checks."""

    def _init_checks(
        self,
        test_mode: bool,
        timeout: Optional[float],
        min_frames: int,
        max_file_size: Optional[int],
        max_aspect_ratio: Optional[float],
        max_pixels: Optional[int],
        max_timestamp_gap: Optional[float],
        frame_count_tolerance: Optional[float],
    ) -> None:
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_frames = max(1, min_frames)
        self.max_file_size = max_file_size
        self.max_aspect_ratio = max_aspect_ratio
        self.max_pixels = max_pixels
        self.max_timestamp_gap = max_timestamp_gap
        self.frame_count_tolerance = frame_count_tolerance

    def _read(self, filename: str) -> bytes:
        if self.io_backend == 'disk':
            check_local_file(filename, self.max_file_size)
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        data = self.file_client.get(filename)
        if self.max_file_size is not None and len(data) > self.max_file_size:
            raise ValueError(
                f'the file has {len(data)} bytes, more than max_file_size={self.max_file_size}'
            )
        return data

    def _open_video(self, filename: str) -> PyAVVideo:
        video = PyAVVideo(self._read(filename), filename)
        try:
            video.check(
                min_frames=self.min_frames,
                frame_count_tolerance=self.frame_count_tolerance,
                max_timestamp_gap=self.max_timestamp_gap,
                max_aspect_ratio=self.max_aspect_ratio,
                max_pixels=self.max_pixels,
            )
        except Exception:
            video.close()
            raise
        return video

    def _checks_repr(self) -> str:
        return (
            f'test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_frames={self.min_frames}, max_file_size={self.max_file_size}, '
            f'max_aspect_ratio={self.max_aspect_ratio}, max_pixels={self.max_pixels}, '
            f'max_timestamp_gap={self.max_timestamp_gap}, '
            f'frame_count_tolerance={self.frame_count_tolerance}'
        )


def _check_args(cls):
    """Append the Args of the file checks to an Init transform's docstring."""
    cls.__doc__ += """
        test_mode: Raise on a bad video instead of skipping it.
        timeout: Seconds allowed to open and check the file (None: no limit).
        min_frames: Videos with fewer frames are bad.
        max_file_size: Files with more bytes are refused before they are
            read (None: no limit).
        max_aspect_ratio: Frames whose long side exceeds this multiple of
            the short side are refused (None: no limit).
        max_pixels: Frames with more pixels are refused (None: no limit).
        max_timestamp_gap: A jump between consecutive timestamps of more
            than this many median frame durations makes the video bad
            (None: no check).
        frame_count_tolerance: Fraction of the frames the container promises
            (header count, else duration x frame rate) that may be missing
            before the video counts as truncated (None: no check).
        kwargs: Arguments of the file client.
    """
    return cls


@TRANSFORMS.register_module()
@_check_args
class TDSDecordInit(_FileChecksMixin, DecordInit):
    """``DecordInit`` that checks the file and routes codecs decord cannot
    seek exactly to :class:`PyAVVideo`.

    The file is opened with PyAV first (this reads every packet header, not
    the frames) for the checks of the module docstring. Codecs in
    :data:`DECORD_EXACT_CODECS` are then opened with decord (its log is
    silenced: a broken file is named in our own one-line message, never
    printed by decord); for other codecs, or when decord counts other frames
    than the packets, ``video_reader`` is the :class:`PyAVVideo`, which
    :class:`TDSDecordDecode` decodes exactly.

    Required keys: ``filename``. Added keys: ``video_reader``,
    ``total_frames``, ``avg_fps``.

    Args:
        io_backend: Backend of the file client. Defaults to ``'disk'``.
        num_threads: Decord decoding threads."""

    def __init__(
        self,
        io_backend: str = 'disk',
        num_threads: int = 1,
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_frames: int = 1,
        max_file_size: Optional[int] = MAX_FILE_SIZE,
        max_aspect_ratio: Optional[float] = MAX_ASPECT_RATIO,
        max_pixels: Optional[int] = MAX_PIXELS,
        max_timestamp_gap: Optional[float] = MAX_TIMESTAMP_GAP,
        frame_count_tolerance: Optional[float] = FRAME_COUNT_TOLERANCE,
        **kwargs,
    ) -> None:
        super().__init__(io_backend=io_backend, num_threads=num_threads, **kwargs)
        self._init_checks(
            test_mode,
            timeout,
            min_frames,
            max_file_size,
            max_aspect_ratio,
            max_pixels,
            max_timestamp_gap,
            frame_count_tolerance,
        )

    def _get_video_reader(self, filename: str) -> object:
        import decord

        decord.logging.set_level(decord.logging.QUIET)
        # decord's C++ log line and exception text quote the "file name",
        # which for the in-memory file it is given is the file's contents.
        with _stderr_silenced():
            try:
                return super()._get_video_reader(filename)
            except Exception as e:
                raise ValueError(f'decord cannot open the file ({type(e).__name__})') from None

    def _open(self, filename: str) -> Tuple[Any, int, float]:
        video = self._open_video(filename)
        if video.codec not in DECORD_EXACT_CODECS:
            return video, video.num_frames, video.fps
        video.close()
        reader = self._get_video_reader(filename)
        if len(reader) != video.num_frames:
            return self._open_video(filename), video.num_frames, video.fps
        return reader, len(reader), reader.get_avg_fps()

    def transform(self, results: Dict) -> Optional[Dict]:
        filename = results['filename']
        try:
            reader, num_frames, fps = call_with_timeout(lambda: self._open(filename), self.timeout)
        except Exception as e:
            handle_bad_sample(filename, _describe(e), self.test_mode)
            return None
        results['video_reader'] = reader
        results['total_frames'] = num_frames
        results['avg_fps'] = fps
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(io_backend={self.io_backend}, '
            f'num_threads={self.num_threads}, {self._checks_repr()})'
        )


@TRANSFORMS.register_module()
class TDSDecordDecode(_DistinctFramesDecodeMixin, DecordDecode):
    """``DecordDecode`` that decodes each distinct frame once, exactly.

    A decord reader (codecs of :data:`DECORD_EXACT_CODECS`) is read with
    ``get_batch``; a :class:`PyAVVideo` (any other codec, from
    :class:`TDSDecordInit`) is decoded by timestamp.

    Required keys: ``video_reader``, ``frame_inds``, ``filename``.
    Added keys: ``imgs`` (list of ``(H, W, 3)`` uint8 RGB, one per entry of
    ``frame_inds``), ``original_shape``, ``img_shape``.

    Args:
        mode: ``'accurate'`` or ``'efficient'`` (key frames; inexact, as
            stock), for decord readers.
        test_mode: Raise on a bad video instead of skipping it.
        timeout: Seconds allowed for decoding (None: no limit).
        min_size: Videos whose frames have a side below this are bad.
    """

    def __init__(
        self,
        mode: str = 'accurate',
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_size: int = 16,
    ) -> None:
        super().__init__(mode=mode)
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_size = min_size

    def _decode(self, reader: Any, unique: np.ndarray) -> Sequence[np.ndarray]:
        if isinstance(reader, PyAVVideo):
            frames = reader.decode(unique)
        else:
            if unique[-1] >= len(reader) or unique[0] < 0:
                raise ValueError(
                    f'frame {unique[-1]} requested from a video of {len(reader)} frames'
                )
            if self.mode == 'accurate':
                frames = reader.get_batch(unique).asnumpy()
            else:
                frames = self._decord_load_frames(reader, unique)
        check_frames(frames, len(unique), self.min_size)
        return frames

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(mode={self.mode}, '
            f'test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_size={self.min_size})'
        )


@TRANSFORMS.register_module()
@_check_args
class TDSPyAVInit(_FileChecksMixin, PyAVInit):
    """``PyAVInit`` that opens a :class:`PyAVVideo` (exact random access,
    a frame count from the packets, the file checks of the module
    docstring).

    The container header holds no frame count for ``.webm`` / ``.mkv``
    (stock ``PyAVInit`` then reports 0 frames): the packets are counted.

    Required keys: ``filename``. Added keys: ``video_reader`` (a
    :class:`PyAVVideo`), ``total_frames``, ``avg_fps``.

    Args:
        io_backend: Backend of the file client. Defaults to ``'disk'``."""

    def __init__(
        self,
        io_backend: str = 'disk',
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_frames: int = 1,
        max_file_size: Optional[int] = MAX_FILE_SIZE,
        max_aspect_ratio: Optional[float] = MAX_ASPECT_RATIO,
        max_pixels: Optional[int] = MAX_PIXELS,
        max_timestamp_gap: Optional[float] = MAX_TIMESTAMP_GAP,
        frame_count_tolerance: Optional[float] = FRAME_COUNT_TOLERANCE,
        **kwargs,
    ) -> None:
        super().__init__(io_backend=io_backend, **kwargs)
        self._init_checks(
            test_mode,
            timeout,
            min_frames,
            max_file_size,
            max_aspect_ratio,
            max_pixels,
            max_timestamp_gap,
            frame_count_tolerance,
        )

    def transform(self, results: Dict) -> Optional[Dict]:
        filename = results['filename']
        try:
            video = call_with_timeout(lambda: self._open_video(filename), self.timeout)
        except Exception as e:
            handle_bad_sample(filename, _describe(e), self.test_mode)
            return None
        results['video_reader'] = video
        results['total_frames'] = video.num_frames
        results['avg_fps'] = video.fps
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(io_backend={self.io_backend}, {self._checks_repr()})'


@TRANSFORMS.register_module()
class TDSPyAVDecode(_DistinctFramesDecodeMixin, PyAVDecode):
    """Exact PyAV decoding of each distinct frame of ``frame_inds``, once.

    Decodes from the key frame before each needed frame and identifies
    frames by timestamp (:meth:`PyAVVideo.decode`); non-reference frames
    that are not needed are skipped. A requested frame that does not decode
    (a file shorter than it claims, damaged data) makes the video bad,
    rather than wrapping around as the stock transform does.

    Required keys: ``video_reader`` (a :class:`PyAVVideo` from
    :class:`TDSPyAVInit`), ``frame_inds``, ``filename``.
    Added keys: ``imgs``, ``original_shape``, ``img_shape``.

    Args:
        multi_thread: Let FFmpeg decode with several threads.
        test_mode: Raise on a bad video instead of skipping it.
        timeout: Seconds allowed for decoding (None: no limit).
        min_size: Videos whose frames have a side below this are bad.
    """

    def __init__(
        self,
        multi_thread: bool = False,
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_size: int = 16,
    ) -> None:
        super().__init__(multi_thread=multi_thread, mode='accurate')
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_size = min_size

    def _check_reader(self, reader: Any) -> None:
        if not isinstance(reader, PyAVVideo):
            raise TypeError(
                f'{self.__class__.__name__} needs the video_reader of TDSPyAVInit, got '
                f'{type(reader).__name__}; use TDSPyAVInit in the pipeline'
            )

    def _decode(self, video: PyAVVideo, unique: np.ndarray) -> List[np.ndarray]:
        if self.multi_thread:
            video.stream.thread_type = 'AUTO'
        frames = video.decode(unique)
        check_frames(frames, len(unique), self.min_size)
        return frames

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(multi_thread={self.multi_thread},'
            f' test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_size={self.min_size})'
        )


@TRANSFORMS.register_module()
class TDSRawFrameDecode(RawFrameDecode):
    """``RawFrameDecode`` (RGB) that reads each distinct frame file once.

    A missing or undecodable frame file (the folder holds fewer frames than
    the annotation says, or a corrupt JPEG) makes the sample bad.

    Required keys: ``frame_dir``, ``filename_tmpl``, ``frame_inds``,
    ``offset`` (optional). Added keys: ``imgs``, ``original_shape``,
    ``img_shape``.

    Args:
        io_backend: Backend of the file client. Defaults to ``'disk'``.
        decoding_backend: mmcv image backend. Defaults to ``'cv2'``.
        test_mode: Raise on a bad sample instead of skipping it.
        timeout: Seconds allowed for reading all frames (None: no limit).
        min_size: Frames with a side below this are bad.
        kwargs: Arguments of the file client.
    """

    def __init__(
        self,
        io_backend: str = 'disk',
        decoding_backend: str = 'cv2',
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_size: int = 16,
        **kwargs,
    ) -> None:
        super().__init__(io_backend=io_backend, decoding_backend=decoding_backend, **kwargs)
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_size = min_size

    def _read(self, directory: str, tmpl: str, unique: np.ndarray) -> List[np.ndarray]:
        frames = []
        for index in unique:
            path = osp.join(directory, tmpl.format(int(index)))
            img = mmcv.imfrombytes(self.file_client.get(path), channel_order='rgb')
            if img is None:
                raise ValueError(f'cannot decode image {path}')
            frames.append(img)
        check_frames(frames, len(unique), self.min_size)
        return frames

    def transform(self, results: Dict) -> Optional[Dict]:
        if results.get('modality', 'RGB') != 'RGB':
            raise NotImplementedError(f'{self.__class__.__name__} reads RGB frames only')
        mmcv.use_backend(self.decoding_backend)
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        directory = results['frame_dir']
        unique, inverse = unique_frame_indices(results['frame_inds'])
        unique = unique + results.get('offset', 0)
        try:
            frames = call_with_timeout(
                lambda: self._read(directory, results['filename_tmpl'], unique), self.timeout
            )
        except Exception as e:
            handle_bad_sample(directory, _describe(e), self.test_mode)
            return None
        return _set_images(results, frames, inverse)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(io_backend={self.io_backend}, '
            f'decoding_backend={self.decoding_backend}, '
            f'test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_size={self.min_size})'
        )
