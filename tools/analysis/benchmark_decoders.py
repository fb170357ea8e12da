"""Exactness and speed of the video decoders on dataset-like videos.

Writes SSv2-like VP9 ``.webm`` (427 x 240, 45 frames, 12 fps), K400-like
H.264 ``.mp4`` (340 x 256, 300 frames, 30 fps, x264's default key frame
interval and B-frames) and K400-like VP9 ``.webm`` (as YouTube serves
Kinetics), with frames whose content identifies their index over a panning
texture. Every clip's 40 frame indices come from ``SampleTDSFrames`` (T = 8,
n = 5, training); every decoder decodes the same indices, opening the file
each time as a dataloader does, and is compared with a full sequential
PyAV decode.

Rows: MMAction2's ``DecordInit`` + ``DecordDecode`` (the stock baseline),
ours (``TDSDecordInit`` + ``TDSDecordDecode``, ``TDSPyAVInit`` +
``TDSPyAVDecode``, and the latter without skipping unneeded non-reference
frames), decord2 (``--decord2-site DIR``, a folder holding decord2: it
installs under the module name ``decord`` too, so it runs in a subprocess)
and torchcodec (when it imports). A decoder that cannot run says why.

Times are CPU milliseconds of the process per clip (open + decode; median of
``--rounds`` rounds, rows interleaved), so a decoder's threads count and the
ratios hold on a busy machine; ``vs stock`` divides the stock row's time by
the row's.

Usage::

    python tools/analysis/benchmark_decoders.py [--clips 10] [--rounds 3] \\
        [--decord2-site /tmp/decord2]
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

import numpy as np

VIDEOS = {
    'SSv2-like VP9 webm (427x240, 45 frames)': dict(
        name='ssv2.webm', num_frames=45, height=240, width=427, fps=12, codec='libvpx-vp9'
    ),
    'K400-like H.264 mp4 (340x256, 300 frames)': dict(
        name='k400.mp4', num_frames=300, height=256, width=340, fps=30, codec='libx264'
    ),
    'K400-like VP9 webm (340x256, 300 frames)': dict(
        name='k400.webm', num_frames=300, height=256, width=340, fps=30, codec='libvpx-vp9'
    ),
}


def write_videos(root: str) -> Dict[str, str]:
    from mmaction_tdsclip.datasets.synthetic import write_video

    paths = {}
    for label, spec in VIDEOS.items():
        spec = dict(spec)
        path = osp.join(root, spec.pop('name'))
        # 4:2:0 as real datasets use (VP9 allows odd sides).
        write_video(path, texture=True, pix_fmt='yuv420p', **spec)
        paths[label] = path
    return paths


def sequential_decode(path: str) -> np.ndarray:
    import av

    with av.open(path) as container:
        return np.stack([f.to_ndarray(format='rgb24') for f in container.decode(video=0)])


def clip_indices(num_frames: int, clips: int) -> List[np.ndarray]:
    from mmaction.registry import TRANSFORMS

    sampler = TRANSFORMS.build(dict(type='SampleTDSFrames', num_segments=8, num_local_frames=5))
    np.random.seed(0)
    return [
        sampler(dict(total_frames=num_frames, start_index=0))['frame_inds'] for _ in range(clips)
    ]


def exactness(decoded: List[np.ndarray], inds: np.ndarray, reference: np.ndarray) -> Dict:
    """Frames that are not the reference frame at their index, and of those
    the ones closer to another frame (the wrong frame, not just other
    pixels)."""
    differ = wrong = 0
    for img, i in zip(decoded, inds):
        if not np.array_equal(img, reference[i]):
            differ += 1
            errors = np.abs(reference.astype(np.int16) - img).mean(axis=(1, 2, 3))
            wrong += int(errors.argmin() != i)
    return dict(differ=differ, wrong=wrong, total=len(inds))


def time_rows(rows: Dict[str, Callable], path, clips, reference, rounds) -> Dict[str, Dict]:
    out = {name: dict(ms=[], differ=0, wrong=0, total=0) for name in rows}
    for _ in range(rounds):
        for name, decode in rows.items():
            start = time.process_time()
            decoded = [decode(path, inds) for inds in clips]
            out[name]['ms'].append((time.process_time() - start) / len(clips) * 1000)
            for frames, inds in zip(decoded, clips):
                for key, value in exactness(frames, inds, reference).items():
                    out[name][key] += value
    return out


def our_rows() -> Dict[str, Callable]:
    from mmaction.registry import TRANSFORMS

    from mmaction_tdsclip.datasets.transforms.loading import PyAVVideo

    def pipeline(init: str, decode: str) -> Callable:
        init_t = TRANSFORMS.build(dict(type=init))
        decode_t = TRANSFORMS.build(dict(type=decode))

        def run(path, inds):
            results = init_t(dict(filename=path, start_index=0))
            results['frame_inds'] = inds
            return decode_t(results)['imgs']

        return run

    def no_skipping(path, inds):
        with open(path, 'rb') as f:
            video = PyAVVideo(f.read(), path)
        unique, inverse = np.unique(inds, return_inverse=True)
        frames = video.decode(unique, skip_unneeded=False)
        video.close()
        return [frames[k] for k in inverse.reshape(-1)]

    return {
        'stock DecordInit + DecordDecode (decord 0.6)': pipeline('DecordInit', 'DecordDecode'),
        'TDSDecordInit + TDSDecordDecode': pipeline('TDSDecordInit', 'TDSDecordDecode'),
        'TDSPyAVInit + TDSPyAVDecode': pipeline('TDSPyAVInit', 'TDSPyAVDecode'),
        '... without non-reference skipping': no_skipping,
    }


def torchcodec_row():
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:  # not installed, or its libraries do not load
        return None, f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'

    def run(path, inds):
        decoder = VideoDecoder(path, dimension_order='NHWC', seek_mode='exact')
        frames = decoder.get_frames_at(indices=[int(i) for i in inds]).data.numpy()
        return list(frames)

    return run, ''


def worker_decord2(args) -> None:
    """Runs in a subprocess with decord2 first on the path."""
    sys.path.insert(0, args.decord2_site)
    import decord

    payload = json.loads(sys.stdin.read())
    results = {}
    for label, path in payload['paths'].items():
        reference = sequential_decode(path)
        clips = [np.asarray(c) for c in payload['clips'][label]]

        def run(path, inds):
            reader = decord.VideoReader(path, num_threads=1)
            return list(reader.get_batch(inds).asnumpy())

        results[label] = time_rows({'decord2': run}, path, clips, reference, args.rounds)['decord2']
    print(json.dumps(dict(version=decord.__version__, results=results)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clips', type=int, default=10, help='clips per video and round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--decord2-site', help='folder with decord2 (pip install --target)')
    parser.add_argument('--worker', choices=['decord2'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == 'decord2':
        worker_decord2(args)
        return

    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registration)

    init_default_scope('mmaction')
    root = tempfile.mkdtemp(prefix='bench_decoders_')
    paths = write_videos(root)  # before decord is imported (libvpx clash)
    clips = {label: clip_indices(spec['num_frames'], args.clips) for label, spec in VIDEOS.items()}

    rows = our_rows()
    tc_run, tc_reason = torchcodec_row()
    if tc_run is not None:
        rows['torchcodec (exact seek mode)'] = tc_run
    table: Dict[str, Dict[str, Dict]] = {}
    for label, path in paths.items():
        table[label] = time_rows(rows, path, clips[label], sequential_decode(path), args.rounds)

    notes = []
    if tc_run is None:
        notes.append(f'torchcodec: not usable here ({tc_reason})')
    if args.decord2_site:
        payload = dict(paths=paths, clips={k: [c.tolist() for c in v] for k, v in clips.items()})
        proc = subprocess.run(
            [sys.executable, __file__, '--worker', 'decord2', '--rounds', str(args.rounds)]
            + ['--decord2-site', args.decord2_site],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            for label, result in out['results'].items():
                table[label][f'decord2 {out["version"]} get_batch'] = result
        else:
            notes.append(f'decord2: failed ({proc.stderr.strip().splitlines()[-1][:120]})')
    else:
        notes.append('decord2: not measured (pass --decord2-site)')

    print(f'{args.clips} clips x {args.rounds} rounds, 40 frame indices per clip (T=8, n=5).')
    print('| video | decoder | exact | wrong frames | ms per clip (CPU) | vs stock |')
    print('|---|---|---|---|---|---|')
    for label, results in table.items():
        base = float(np.median(next(iter(results.values()))['ms']))
        for k, (name, r) in enumerate(results.items()):
            ms = float(np.median(r['ms']))
            exact = 'yes' if r['differ'] == 0 else f'no ({r["differ"]} of {r["total"]} differ)'
            print(
                f'| {label if k == 0 else ""} | {name} | {exact} | {r["wrong"]} | {ms:.1f} '
                f'| {base / ms:.2f}x |'
            )
    for note in notes:
        print(f'- {note}')
    for path in paths.values():
        os.remove(path)
    os.rmdir(root)


if __name__ == '__main__':
    main()
