"""Video loading that decodes each distinct frame once and survives bad files.

The windows of :class:`SampleTDSFrames` overlap (and clamp at the ends), so
``frame_inds`` repeats frames. These transforms decode ``np.unique`` of the
indices once, then gather them back into the requested order.

They subclass MMAction2's ``DecordInit`` / ``DecordDecode``, ``PyAVInit`` /
``PyAVDecode`` and ``RawFrameDecode`` and add bad-video handling: a file that
cannot be opened or decoded, has fewer than ``min_frames`` frames, frames
smaller than ``min_size``, or takes longer than ``timeout`` seconds, is
reported through
:func:`~mmaction_tdsclip.datasets.bad_samples.handle_bad_sample`: in
training the transform returns ``None`` (mmengine's ``BaseDataset`` then
draws another sample) and the skip is counted; with ``test_mode=True`` a
:class:`~mmaction_tdsclip.datasets.bad_samples.VideoDecodeError` naming the
file is raised.
"""

import io
import os.path as osp
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


class _DistinctFramesDecodeMixin:
    """Shared ``transform`` of the video decoders: each distinct frame of
    ``frame_inds`` is decoded once by the subclass's ``_decode(reader,
    unique)``, under a timeout; a bad video is reported, and skipped in
    training (None) or raised in testing."""

    def transform(self, results: Dict) -> Optional[Dict]:
        reader = results.pop('video_reader')
        results['video_reader'] = None
        unique, inverse = unique_frame_indices(results['frame_inds'])
        try:
            frames = call_with_timeout(lambda: self._decode(reader, unique), self.timeout)
        except Exception as e:
            handle_bad_sample(results['filename'], _describe(e), self.test_mode)
            return None
        return _set_images(results, frames, inverse)


@TRANSFORMS.register_module()
class TDSDecordInit(DecordInit):
    """``DecordInit`` that reports unreadable or too short videos.

    Required keys: ``filename``. Added keys: ``video_reader``,
    ``total_frames``, ``avg_fps``.

    Args:
        io_backend: Backend of the file client. Defaults to ``'disk'``.
        num_threads: Decord decoding threads.
        test_mode: Raise on a bad video instead of skipping it.
        timeout: Seconds allowed to open the file (None: no limit).
        min_frames: Videos with fewer frames are treated as bad.
        kwargs: Arguments of the file client.
    """

    def __init__(
        self,
        io_backend: str = 'disk',
        num_threads: int = 1,
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_frames: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(io_backend=io_backend, num_threads=num_threads, **kwargs)
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_frames = max(1, min_frames)

    def transform(self, results: Dict) -> Optional[Dict]:
        filename = results['filename']
        try:
            reader = call_with_timeout(lambda: self._get_video_reader(filename), self.timeout)
            num_frames = len(reader)
            fps = reader.get_avg_fps()
        except Exception as e:
            handle_bad_sample(filename, _describe(e), self.test_mode)
            return None
        if num_frames < self.min_frames:
            handle_bad_sample(
                filename, f'{num_frames} frames, at least {self.min_frames} needed', self.test_mode
            )
            return None
        results['video_reader'] = reader
        results['total_frames'] = num_frames
        results['avg_fps'] = fps
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(io_backend={self.io_backend}, '
            f'num_threads={self.num_threads}, '
            f'test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_frames={self.min_frames})'
        )


@TRANSFORMS.register_module()
class TDSDecordDecode(_DistinctFramesDecodeMixin, DecordDecode):
    """``DecordDecode`` that decodes each distinct frame once.

    Required keys: ``video_reader``, ``frame_inds``, ``filename``.
    Added keys: ``imgs`` (list of ``(H, W, 3)`` uint8 RGB, one per entry of
    ``frame_inds``), ``original_shape``, ``img_shape``.

    Args:
        mode: ``'accurate'`` or ``'efficient'`` (key frames), as stock.
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
        if unique[-1] >= len(reader) or unique[0] < 0:
            raise ValueError(f'frame {unique[-1]} requested from a video of {len(reader)} frames')
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
class TDSPyAVInit(PyAVInit):
    """``PyAVInit`` with a trustworthy frame count and bad-video reporting.

    The container header holds no frame count for ``.webm`` / ``.mkv``
    (stock ``PyAVInit`` then reports 0 frames): the video packets are
    counted instead. Use this for Something-Something V2, whose VP9 ``.webm``
    files decord may mis-seek.

    Required keys: ``filename``. Added keys: ``video_reader`` (an open
    container), ``total_frames``, ``avg_fps``.

    Args:
        io_backend: Backend of the file client. Defaults to ``'disk'``.
        test_mode: Raise on a bad video instead of skipping it.
        timeout: Seconds allowed to open and count (None: no limit).
        min_frames: Videos with fewer frames are treated as bad.
        kwargs: Arguments of the file client.
    """

    def __init__(
        self,
        io_backend: str = 'disk',
        test_mode: bool = False,
        timeout: Optional[float] = 30.0,
        min_frames: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(io_backend=io_backend, **kwargs)
        self.test_mode = test_mode
        self.timeout = timeout
        self.min_frames = max(1, min_frames)

    def _open(self, filename: str) -> Tuple[Any, int, float]:
        import av

        if self.file_client is None:
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        data = self.file_client.get(filename)
        container = av.open(io.BytesIO(data))
        stream = container.streams.video[0]
        num_frames = stream.frames
        if num_frames <= 0:
            num_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            container.close()
            container = av.open(io.BytesIO(data))
            stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        return container, num_frames, fps

    def transform(self, results: Dict) -> Optional[Dict]:
        filename = results['filename']
        try:
            container, num_frames, fps = call_with_timeout(
                lambda: self._open(filename), self.timeout
            )
        except Exception as e:
            handle_bad_sample(filename, _describe(e), self.test_mode)
            return None
        if num_frames < self.min_frames:
            container.close()
            handle_bad_sample(
                filename, f'{num_frames} frames, at least {self.min_frames} needed', self.test_mode
            )
            return None
        results['video_reader'] = container
        results['total_frames'] = num_frames
        results['avg_fps'] = fps
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(io_backend={self.io_backend}, '
            f'test_mode={self.test_mode}, timeout={self.timeout}, '
            f'min_frames={self.min_frames})'
        )


@TRANSFORMS.register_module()
class TDSPyAVDecode(_DistinctFramesDecodeMixin, PyAVDecode):
    """``PyAVDecode`` (accurate mode) that converts each needed frame once.

    Frames are decoded in order up to the largest requested index; only the
    distinct requested ones are converted to RGB. A stream that ends before
    that index (a file shorter than its header claims) is a bad video,
    rather than wrapping around as the stock transform does.

    Required keys: ``video_reader``, ``frame_inds``, ``filename``.
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

    def _decode(self, container: Any, unique: np.ndarray) -> List[np.ndarray]:
        stream = container.streams.video[0]
        if self.multi_thread:
            stream.thread_type = 'AUTO'
        wanted = set(int(i) for i in unique)
        last = int(unique[-1])
        frames: List[np.ndarray] = []
        index = -1
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frames.append(frame.to_rgb().to_ndarray())
            if index >= last:
                break
        container.close()
        if index < last:
            raise ValueError(f'stream ended after {index + 1} frames, frame {last} requested')
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
