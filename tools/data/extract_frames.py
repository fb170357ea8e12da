"""Extract every frame of the videos of MMAction2 video lists into JPEG
frame folders, and write the matching raw-frame lists.

The TDS-CLIP authors train and test Something-Something V2 on JPEG frames
extracted from the .webm videos; ``configs/_base_/datasets/sthv2_rawframes.py``
reads this layout:

    <out-dir>/<video id>/img_00001.jpg, img_00002.jpg, ...   (numbered from 1)
    <list dir>/sthv2_train_list_rawframes.txt     "<video id> <num_frames> <label>"

Each video is decoded with PyAV, every frame in order, and each frame is
written as a JPEG with Pillow (quality 95, 4:2:0 chroma, the high-quality
end like the ``ffmpeg -q:v 1``/``-q:v 2`` extractions usual for these
datasets, though not byte-identical to them; ``--quality`` changes it). The
frame count in the lists is the number of frames decoded, not what the
container states.

- Parallel: ``--workers`` processes (default: all CPUs), with a progress bar.
- Resumable: a finished folder holds ``.extracted`` (its frame count);
  rerunning skips those videos, and redoes a folder left unfinished.
- A video that cannot be decoded (unreadable, no video stream, decoding
  error, fewer frames than the container states) does not stop the run: it
  is left out of the lists, its partial frames are removed, and it is named
  at the end and in ``<out-dir>/extract_frames_failed.txt``.

Example (after tools/data/build_sthv2_annotations.py):
    python tools/data/extract_frames.py data/sthv2/videos data/sthv2/rawframes \\
        --lists data/sthv2/sthv2_train_list_videos.txt data/sthv2/sthv2_val_list_videos.txt

writes data/sthv2/sthv2_{train,val}_list_rawframes.txt beside the video lists.
"""

import argparse
import glob
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Tuple

import av
import numpy as np
from mmengine.utils import track_parallel_progress
from PIL import Image

FILENAME_TMPL = 'img_{:05d}.jpg'
DONE_MARKER = '.extracted'
FAILED_LIST = 'extract_frames_failed.txt'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract the frames of listed videos to img_{:05d}.jpg folders and write '
        'raw-frame lists.'
    )
    parser.add_argument('video_dir', help='folder the video lists are relative to')
    parser.add_argument('out_dir', help='where the <video id>/ frame folders go')
    parser.add_argument(
        '--lists',
        nargs='+',
        required=True,
        help='video lists ("<file> <label>" or "<file>" per line); for each, a raw-frame list '
        'is written: *_videos.txt -> *_rawframes.txt',
    )
    parser.add_argument(
        '--list-dir', help='where the raw-frame lists go (default: beside each video list)'
    )
    parser.add_argument(
        '--workers', type=int, default=os.cpu_count() or 1, help='decoding processes'
    )
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality (Pillow, 1-95)')
    return parser.parse_args(argv)


def read_video_list(path: str) -> List[Tuple[str, List[str]]]:
    """``(file, [label, ...])`` per non-blank line of an MMAction2 video list."""
    entries = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) > 2:
                raise ValueError(
                    f'{path}, line {line_no}: expected "<video file> <label>", got {line.strip()!r}'
                )
            entries.append((fields[0], fields[1:]))
    return entries


def frame_folder_name(video_file: str) -> str:
    """``'abc/123.webm'`` -> ``'abc/123'``: the folder of the video's frames."""
    return osp.splitext(video_file)[0]


def rawframe_list_path(video_list: str, list_dir: Optional[str]) -> str:
    """``x_videos.txt`` -> ``x_rawframes.txt`` (``x.txt`` -> ``x_rawframes.txt``)."""
    stem = osp.splitext(osp.basename(video_list))[0]
    stem = stem[: -len('_videos')] if stem.endswith('_videos') else stem
    return osp.join(list_dir or osp.dirname(osp.abspath(video_list)), f'{stem}_rawframes.txt')


def finished_count(folder: str) -> Optional[int]:
    """The frame count of a finished folder, None when not finished."""
    try:
        with open(osp.join(folder, DONE_MARKER)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _clear_frames(folder: str) -> None:
    for path in glob.glob(osp.join(glob.escape(folder), 'img_*.jpg')):
        os.remove(path)


def extract_video(task: Tuple[str, str], quality: int) -> Tuple[str, Optional[int], str]:
    """Decode one video and write its frames.

    Args:
        task: ``(video path, frame folder)``.
        quality: JPEG quality.

    Returns:
        ``(video path, frame count or None on failure, reason)``.
    """
    video, folder = task
    done = finished_count(folder)
    if done is not None:
        return video, done, 'already extracted'
    os.makedirs(folder, exist_ok=True)
    _clear_frames(folder)  # what an interrupted run left
    count = 0
    try:
        with av.open(video) as container:
            if not container.streams.video:
                raise ValueError('no video stream')
            stream = container.streams.video[0]
            stated = stream.frames
            for frame in container.decode(stream):
                image: np.ndarray = frame.to_ndarray(format='rgb24')
                count += 1
                Image.fromarray(image).save(
                    osp.join(folder, FILENAME_TMPL.format(count)), quality=quality
                )
        if count == 0:
            raise ValueError('no frame could be decoded')
        if stated and count < stated:
            raise ValueError(f'decoded {count} of the {stated} frames the container states')
    except Exception as exc:  # av.error.*, OSError, ValueError: a bad video, not a bad run
        _clear_frames(folder)
        if not os.listdir(folder):
            os.rmdir(folder)
        return video, None, f'{type(exc).__name__}: {exc}'
    tmp = osp.join(folder, DONE_MARKER + '.tmp')
    with open(tmp, 'w') as f:
        f.write(f'{count}\n')
    os.replace(tmp, osp.join(folder, DONE_MARKER))
    return video, count, 'extracted'


def main(argv=None) -> int:
    args = parse_args(argv)
    lists = {path: read_video_list(path) for path in args.lists}
    videos = sorted({file for entries in lists.values() for file, _ in entries})
    tasks = [
        (osp.join(args.video_dir, file), osp.join(args.out_dir, frame_folder_name(file)))
        for file in videos
    ]
    print(f'{len(videos)} videos from {len(lists)} list(s) -> {args.out_dir}')
    os.makedirs(args.out_dir, exist_ok=True)
    results = track_parallel_progress(
        partial(extract_video, quality=args.quality),
        tasks,
        nproc=max(1, min(args.workers, len(tasks))),
        keep_order=True,
    )
    counts: Dict[str, Optional[int]] = {file: count for file, (_, count, _) in zip(videos, results)}
    failed = [(video, reason) for video, count, reason in results if count is None]
    skipped = sum(reason == 'already extracted' for _, _, reason in results)
    print(f'\n{len(videos) - len(failed)} videos have frames ({skipped} were already done).')

    for path, entries in lists.items():
        out = rawframe_list_path(path, args.list_dir)
        os.makedirs(osp.dirname(out), exist_ok=True)
        kept = [
            (frame_folder_name(file), counts[file], labels)
            for file, labels in entries
            if counts[file] is not None
        ]
        with open(out, 'w', encoding='utf-8') as f:
            f.write(''.join(' '.join([name, str(n), *labels]) + '\n' for name, n, labels in kept))
        print(f'{out}: {len(kept)} of {len(entries)} videos')

    failed_path = osp.join(args.out_dir, FAILED_LIST)
    if failed:
        with open(failed_path, 'w', encoding='utf-8') as f:
            f.write(''.join(f'{video}\t{reason}\n' for video, reason in failed))
        print(
            f'{len(failed)} video(s) could not be decoded and are left out (also in {failed_path}):'
        )
        for video, reason in failed:
            print(f'  {video}: {reason}')
    elif osp.exists(failed_path):
        os.remove(failed_path)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
