"""Data-loading throughput of TDS-CLIP's sampler and decoders.

Decoded clips per second in one process (= per dataloader worker) for
T = 8 segments x n = 5 local frames (40 frame slots per clip; ``--num-
segments`` for the 16/32-frame recipes), on generated videos shaped like
the two dataset families:

- ``ss``: 48 frames, 428 x 240, 12 fps (Something-Something V2 sized);
- ``k400``: 300 frames, 340 x 256, 30 fps (Kinetics sized).

Pipelines (train-mode sampling, decode only, no augmentation):

- ``stock SampleFrames + DecordDecode``: MMAction2's own pipeline for the
  same number of frames, ``SampleFrames(clip_len=5, num_clips=T)`` (T
  windows of 5 consecutive frames);
- ``SampleTDSFrames + stock DecordDecode``: our windows, decoded by the
  stock decoder (``get_batch`` on all T*n indices, repeats included);
- ``SampleTDSFrames + TDSDecordDecode``: ours, each distinct frame once
  (also without the decode watchdog thread, ``timeout=None``);
- stock ``PyAVDecode`` and ours for PyAV.

Throughput is given per CPU-second of the process (what one dataloader
worker on its own core delivers; robust to other load on a shared machine)
and per wall-second. The ratio column is each row's CPU throughput over the
stock decord row of the same video family. Timings are medians over
``--rounds`` passes over all videos, the pipelines taking turns pass by
pass, measured in one run (compare ratios, not absolute numbers, across
machines).

    python tools/benchmark_dataloading.py [--num-videos 6] [--rounds 5]
        [--num-segments 8] [--families ss k400]
"""

import argparse
import os.path as osp
import statistics
import tempfile
import time
from typing import Dict, List

import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmaction_tdsclip  # noqa: F401  (registers the transforms)
from mmaction_tdsclip.datasets.synthetic import write_video

FAMILIES = {
    'ss': dict(num_frames=48, height=240, width=428, fps=12),
    'k400': dict(num_frames=300, height=256, width=340, fps=30),
}
N = 5


def pipelines(t: int) -> Dict[str, List[Dict]]:
    """The compared decode pipelines for ``t`` segments of ``N`` frames."""
    ours = dict(type='SampleTDSFrames', num_segments=t, num_local_frames=N)
    stock = dict(type='SampleFrames', clip_len=N, frame_interval=1, num_clips=t)
    return {
        'stock SampleFrames + DecordDecode': [
            dict(type='DecordInit'),
            stock,
            dict(type='DecordDecode'),
        ],
        'SampleTDSFrames + stock DecordDecode': [
            dict(type='DecordInit'),
            ours,
            dict(type='DecordDecode'),
        ],
        'SampleTDSFrames + TDSDecordDecode': [
            dict(type='TDSDecordInit'),
            ours,
            dict(type='TDSDecordDecode'),
        ],
        'SampleTDSFrames + TDSDecordDecode, timeout=None': [
            dict(type='TDSDecordInit', timeout=None),
            ours,
            dict(type='TDSDecordDecode', timeout=None),
        ],
        'stock SampleFrames + PyAVDecode': [dict(type='PyAVInit'), stock, dict(type='PyAVDecode')],
        'SampleTDSFrames + TDSPyAVDecode': [
            dict(type='TDSPyAVInit'),
            ours,
            dict(type='TDSPyAVDecode'),
        ],
    }


BASELINE = 'stock SampleFrames + DecordDecode'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-videos', type=int, default=6, help='videos per family')
    parser.add_argument('--rounds', type=int, default=5, help='timed passes over the videos')
    parser.add_argument('--families', nargs='+', default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument(
        '--num-segments', type=int, default=8, help='T (16 and 32 are the long-clip recipes)'
    )
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def make_videos(root: str, family: str, count: int) -> List[str]:
    spec = FAMILIES[family]
    return [
        write_video(osp.join(root, f'{family}_{i}.mp4'), texture=True, **spec) for i in range(count)
    ]


def one_pass(pipeline, videos: List[str], slots: int) -> Dict:
    """Seconds for one pass over ``videos`` and the frames it touched."""
    distinct = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for video in videos:
        out = pipeline(dict(filename=video, start_index=0, modality='RGB'))
        assert len(out['imgs']) == slots
        distinct += len(np.unique(out['frame_inds']))
    return dict(
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
        distinct=distinct,
    )


def benchmark(videos: List[str], t: int, rounds: int, seed: int) -> Dict:
    """Clips per second of every pipeline, passes interleaved round-robin
    so that load from other processes hits all of them alike."""
    built = {name: Compose(cfg) for name, cfg in pipelines(t).items()}
    for pipeline in built.values():  # warm-up: caches, lazy imports
        one_pass(pipeline, videos, t * N)
    np.random.seed(seed)
    passes = {name: [] for name in built}
    for _ in range(rounds):
        for name, pipeline in built.items():
            passes[name].append(one_pass(pipeline, videos, t * N))
    return {
        name: dict(
            clips_per_s=len(videos) / statistics.median(p['seconds'] for p in runs),
            clips_per_cpu_s=len(videos) / statistics.median(p['cpu_seconds'] for p in runs),
            distinct=sum(p['distinct'] for p in runs) / (rounds * len(videos)),
        )
        for name, runs in passes.items()
    }


def main() -> None:
    args = parse_args()
    init_default_scope('mmaction')
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for family in args.families:
            videos = make_videos(root, family, args.num_videos)
            results = benchmark(videos, args.num_segments, args.rounds, args.seed)
            base = results[BASELINE]['clips_per_cpu_s']
            for name, res in results.items():
                rows.append(
                    (
                        family,
                        name,
                        res['clips_per_cpu_s'],
                        res['clips_per_cpu_s'] / base,
                        res['clips_per_s'],
                        res['distinct'],
                    )
                )
    spec = ', '.join(
        f'{k}: {v["num_frames"]} frames {v["width"]}x{v["height"]}'
        for k, v in FAMILIES.items()
        if k in args.families
    )
    t = args.num_segments
    print(
        f'T={t}, n={N} ({t * N} frame slots per clip), 1 process; '
        f'{spec}; {args.num_videos} videos x {args.rounds} rounds'
    )
    print(
        '| videos | pipeline | clips per CPU-second | vs stock decord | '
        'clips per wall-second | distinct frames decoded |'
    )
    print('|---|---|---|---|---|---|')
    for family, name, cpu, ratio, wall, distinct in rows:
        print(f'| {family} | {name} | {cpu:.1f} | {ratio:.2f}x | {wall:.1f} | {distinct:.1f} |')


if __name__ == '__main__':
    main()
