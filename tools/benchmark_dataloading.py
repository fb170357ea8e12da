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

With ``--pipelines``: the shipped train and test pipelines end to end
(``configs/_base_/datasets/``: decode, augmentation, crops, ``FormatShape``,
``PackActionInputs``) against the independent re-implementation of the
authors' per-frame PIL pipeline (``tests/reference/authors_pipeline.py``:
PIL JPEG or decord decode, RandAugment, resize, crop, flip, grayscale,
``ToTensor`` and normalisation, frame by frame), on the same samples: SS
JPEG frame folders (``ss``: 427 x 240; the authors read SSv2 as frames) and
the SSv2 config on the same clips as H.264 ``.mp4`` (PyAV), K400 ``.mp4``
(340 x 256, 300 frames). The unit is a *view*: one T x n-frame clip the
model consumes (a train sample gives 2 views, repeated augmentation; a
test sample crops x clips). The authors' rows decode each distinct frame
once (favouring them) and normalise on the CPU, as their workers do; the
shipped pipelines leave normalisation to the data preprocessor on the
model's device, so a second authors' row without normalisation is given.
The rows make the same random draws (RandAugment plans and crops cost
differently): the shipped rows of a round start from the same seed, and the
authors' train rows replay the draws of the first shipped train row
(frames, plans, crop boxes, flips, grayscale) on the same samples. The "cv2
resizes" rows swap the PIL-exact resizes and crops for MMAction2's
(``Resize``, ``RandomResizedCrop``, ``CenterCrop``, ``LongSideThreeCrop``):
what the authors' pixels cost.

    python tools/benchmark_dataloading.py --pipelines [--num-videos 4]
        [--rounds 3] [--families ss k400]
"""

import argparse
import os.path as osp
import random
import statistics
import sys
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
    parser.add_argument(
        '--pipelines',
        action='store_true',
        help="shipped train/test pipelines against the authors' PIL pipeline",
    )
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
    if args.pipelines:
        main_pipelines(args)
        return
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


# ------------------------------------------------- end-to-end pipelines
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs', '_base_', 'datasets')
PIPELINE_FAMILIES = {
    'ss': dict(num_frames=45, height=240, width=427, fps=12),
    'k400': dict(num_frames=300, height=256, width=340, fps=30),
}


def _authors():
    """The reference lives with the tests: it is ground truth, not package
    code."""
    sys.path.insert(0, osp.join(REPO, 'tests'))
    from reference import authors_pipeline

    return authors_pipeline


def _textured_frames(count: int, height: int, width: int, seed: int) -> np.ndarray:
    """A blurred colour texture panning across the frame, with a moving
    bright square: JPEG and video sizes like real footage."""
    import cv2

    rng = np.random.RandomState(seed)
    noise = rng.randint(0, 256, (height + count, width + 2 * count, 3)).astype(np.uint8)
    base = cv2.GaussianBlur(cv2.resize(noise, None, fx=0.25, fy=0.25), (3, 3), 0)
    base = cv2.resize(base, (width + 2 * count, height + count), interpolation=cv2.INTER_CUBIC)
    frames = []
    for t in range(count):
        img = base[t : t + height, 2 * t : 2 * t + width].copy()
        x = (7 * t) % max(1, width - 40)
        img[20:60, x : x + 40] = 230
        frames.append(img)
    return np.stack(frames)


def _write_samples(root: str, family: str, count: int) -> List[Dict]:
    """Frame folders (ss) and videos (ss, k400) of ``count`` samples."""
    from PIL import Image

    spec = PIPELINE_FAMILIES[family]
    samples = []
    for i in range(count):
        frames = _textured_frames(spec['num_frames'], spec['height'], spec['width'], seed=i)
        video = osp.join(root, f'{family}_{i}.mp4')
        write_frames_as_video(video, frames, spec['fps'])
        sample = dict(video=video, total_frames=spec['num_frames'])
        if family == 'ss':
            folder = osp.join(root, f'{family}_{i}')
            import os

            os.makedirs(folder)
            for j, frame in enumerate(frames):
                Image.fromarray(frame).save(osp.join(folder, f'{j + 1:05}.jpg'), quality=90)
            sample['frame_dir'] = folder
        samples.append(sample)
    return samples


def write_frames_as_video(path: str, frames: np.ndarray, fps: int) -> None:
    import av

    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        # 4:2:0 needs even sides (427 x 240 SS frames are odd).
        even = stream.height % 2 == 0 and stream.width % 2 == 0
        stream.pix_fmt = 'yuv420p' if even else 'yuv444p'
        stream.options = {'crf': '18'}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# MMAction2's cv2 resizes and crops in place of the PIL-exact ones: what
# the authors' pixels cost.
CV2_STEPS = {
    'ss': dict(
        train=[
            dict(type='ClipRandAugment', config_str='rand-m7-n4-mstd0.5-inc1'),
            dict(type='Resize', scale=(320, 256), keep_ratio=False),
            dict(type='RandomResizedCrop'),
            dict(type='Resize', scale=(224, 224), keep_ratio=False),
        ],
        val=[dict(type='Resize', scale=(320, 256), keep_ratio=False)],
        test=[dict(type='Resize', scale=(320, 256), keep_ratio=False)],
    ),
    'k400': dict(
        train=[
            dict(type='Resize', scale=(-1, 256)),
            dict(type='RandomResizedCrop'),
            dict(type='Resize', scale=(224, 224), keep_ratio=False),
        ],
        val=[dict(type='Resize', scale=(-1, 256))],
        test=[dict(type='Resize', scale=(-1, 256))],
    ),
}


def _with_cv2_resizes(steps: List[Dict], family: str, split: str) -> List[Dict]:
    out = []
    for step in steps:
        kind = step['type']
        if kind == 'RepeatAugment':
            step = dict(step, transforms=_with_cv2_resizes(step['transforms'], family, split))
        elif kind == 'PillowRandomSizedCrop' or kind == 'PillowResize':
            out.extend(CV2_STEPS[family][split])
            continue
        elif kind == 'FullResThreeCrop':
            step = dict(type='LongSideThreeCrop', crop_size=step['crop_size'])
        elif kind == 'TorchvisionCenterCrop':
            step = dict(type='CenterCrop', crop_size=step['crop_size'])
        out.append(step)
    return out


def _shipped(config: str, split: str, t: int, cv2_resizes: bool = False):
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(CONFIGS, config))
    steps = []
    for step in cfg[f'{split}_pipeline']:
        if step['type'] == 'SampleTDSFrames':
            step = dict(step, num_segments=t)
        steps.append(step)
    if cv2_resizes:
        family = 'k400' if 'kinetics' in config else 'ss'
        steps = _with_cv2_resizes(steps, family, split)
    return Compose(steps)


def _shipped_input(sample: Dict, frames: bool) -> Dict:
    if frames:
        return dict(
            frame_dir=sample['frame_dir'],
            total_frames=sample['total_frames'],
            filename_tmpl='{:05}.jpg',
            start_index=1,
            offset=0,
            label=86,
            modality='RGB',
        )
    return dict(filename=sample['video'], label=86, start_index=0, modality='RGB')


# The random draws of a shipped train view, as RepeatAugment lists them.
DRAW_KEYS = (
    'frame_inds',
    'rand_augment_ops',
    'crop_bbox',
    'sized_crop_fallback',
    'flip',
    'grayscale',
)


class RecordingPipeline:
    """A shipped pipeline that keeps each sample's random draws in
    ``draws[video]`` (read before ``PackActionInputs``, which drops them), for
    the authors' rows to replay."""

    def __init__(self, pipeline: Compose, draws: Dict, frames: bool) -> None:
        self.body = Compose(pipeline.transforms[:-1])
        self.pack = pipeline.transforms[-1]
        self.draws, self.frames = draws, frames

    def __call__(self, sample: Dict):
        results = _shipped_input(sample, self.frames)
        start = results['start_index']
        results = self.body(results)
        draws = {key: results.get(key) for key in DRAW_KEYS}
        draws['frame_inds'] = np.asarray(results['frame_inds']) - start
        self.draws[sample['video']] = draws
        return self.pack(results)


class AuthorsPipeline:
    """The authors' per-frame PIL path for one sample. Test: its own
    sampling (no random draw). Train: the draws a shipped pipeline made for
    the same sample (``draws``: frame indices, and per view the RandAugment
    plan, crop box, flip, grayscale), so that both do the same work."""

    def __init__(
        self, family: str, split: str, t: int, draws: Dict, normalise: bool = True
    ) -> None:
        from mmaction_tdsclip.datasets.transforms import SampleTDSFrames

        self.ref = _authors()
        self.family, self.split, self.normalise = family, split, normalise
        protocol = 'sth' if family == 'ss' else 'kinetics'
        clips = {'train': 1, 'test': 2 if family == 'ss' else 4}[split]
        self.sampler = SampleTDSFrames(t, N, clips, protocol, test_mode=split != 'train')
        self.draws = draws

    def _decode(self, sample: Dict, inds: np.ndarray) -> List:
        from PIL import Image

        unique, inverse = np.unique(inds, return_inverse=True)
        if self.family == 'ss':
            imgs = [
                Image.open(osp.join(sample['frame_dir'], f'{int(i) + 1:05}.jpg')).convert('RGB')
                for i in unique
            ]
        else:
            import decord

            batch = decord.VideoReader(sample['video']).get_batch(list(unique)).asnumpy()
            imgs = [Image.fromarray(img) for img in batch]
        return [imgs[k] for k in inverse.reshape(-1)]

    def __call__(self, sample: Dict) -> List[np.ndarray]:
        ref = self.ref
        finish = ref.normalise if self.normalise else (lambda fs: [np.asarray(f) for f in fs])
        if self.split == 'test':
            inds = self.sampler(dict(total_frames=sample['total_frames'], start_index=0))
            frames = self._decode(sample, inds['frame_inds'])
            views = []
            for clip in np.array_split(np.arange(len(frames)), self.sampler.num_clips):
                clip_frames = [frames[k] for k in clip]
                if self.family == 'ss':
                    clip_frames = ref.scale_ss(clip_frames)
                else:
                    clip_frames = ref.scale_short_side(clip_frames)
                views += [finish(crop) for crop in ref.full_res_three_crop(clip_frames)]
            return views
        draws = self.draws[sample['video']]
        frames = self._decode(sample, draws['frame_inds'])
        views = []
        for view, (x1, y1, x2, y2) in enumerate(draws['crop_bbox']):
            if self.family == 'ss':
                plan = draws['rand_augment_ops'][view]
                out = ref.scale_ss([ref.rand_augment_frame(img, plan) for img in frames])
            else:
                out = ref.scale_short_side(frames)
            if draws['sized_crop_fallback'][view]:
                out = ref.sized_crop_fallback(out, x1, y1)
            else:
                out = ref.sized_crop(out, (x1, y1, x2 - x1, y2 - y1))
            if draws['flip'][view]:
                out = ref.flip(out)
            if self.family == 'k400' and draws['grayscale'][view]:
                out = ref.grayscale(out)
            views.append(finish(out))
        return views


def _pipeline_rows(family: str, t: int) -> Dict[str, tuple]:
    """name -> (callable on a sample, views per sample), in the order to
    run them: a shipped train pipeline that records its draws comes before
    the authors' train rows that replay them."""
    draws: Dict = {}
    rows = {}
    for split in ('train', 'test'):
        clips = 1 if split == 'train' else (2 if family == 'ss' else 4)
        views = 2 if split == 'train' else 3 * clips
        if family == 'ss':
            frames = _shipped('sthv1_rawframes.py', split, t)
            video = _shipped('sthv2_videos.py', split, t)
            cv2 = _shipped('sthv1_rawframes.py', split, t, cv2_resizes=True)
            shipped = {
                f'{split}: shipped sthv1 pipeline (JPEG frames)': (frames, True),
                f'{split}: shipped sthv2 pipeline (same clips as .mp4)': (video, False),
                f'{split}: sthv1 pipeline with cv2 resizes (JPEG frames)': (cv2, True),
            }
        else:
            k400 = _shipped('kinetics400_videos.py', split, t)
            cv2 = _shipped('kinetics400_videos.py', split, t, cv2_resizes=True)
            shipped = {
                f'{split}: shipped kinetics400 pipeline (.mp4)': (k400, False),
                f'{split}: kinetics400 pipeline with cv2 resizes (.mp4)': (cv2, False),
            }
        for k, (name, (pipeline, from_frames)) in enumerate(shipped.items()):
            if k == 0 and split == 'train':
                rows[name] = (RecordingPipeline(pipeline, draws, from_frames), views)
            else:
                rows[name] = (lambda s, p=pipeline, f=from_frames: p(_shipped_input(s, f)), views)
        rows[f"{split}: authors' PIL pipeline"] = (AuthorsPipeline(family, split, t, draws), views)
        rows[f"{split}: authors' PIL pipeline without normalisation"] = (
            AuthorsPipeline(family, split, t, draws, normalise=False),
            views,
        )
    return rows


def main_pipelines(args) -> None:
    import torch

    torch.set_num_threads(1)  # per core, as in a dataloader worker
    np.random.seed(args.seed)
    random.seed(args.seed)
    table = []
    with tempfile.TemporaryDirectory() as root:
        for family in args.families:
            samples = _write_samples(root, family, args.num_videos)
            rows = _pipeline_rows(family, args.num_segments)
            for fn, _ in rows.values():  # warm-up
                fn(samples[0])
            cpu = {name: [] for name in rows}
            for round_ in range(args.rounds):
                # The shipped rows of a round start from the same seed, so
                # they make the same draws (RandAugment plans, crops cost
                # differently); the authors' train rows replay the first's.
                for name, (fn, _) in rows.items():
                    np.random.seed(args.seed + round_)
                    start = time.process_time()
                    for sample in samples:
                        fn(sample)
                    cpu[name].append(time.process_time() - start)
            # Totals, not medians: RandAugment's cost varies with its draw.
            per_view = {
                name: sum(cpu[name]) / (args.rounds * len(samples) * views)
                for name, (_, views) in rows.items()
            }
            for split in ('train', 'test'):
                names = [name for name in rows if name.startswith(split)]
                names = [n for n in names if 'authors' in n] + [
                    n for n in names if 'authors' not in n
                ]
                base = per_view[f"{split}: authors' PIL pipeline"]
                for name in names:
                    table.append((family, name, 1.0 / per_view[name], base / per_view[name]))
    t = args.num_segments
    print(
        f'T={t}, n={N} ({t * N} frames a view), 1 process, CPU time; ss: 45 frames 427x240, '
        f'k400: 300 frames 340x256; {args.num_videos} samples x {args.rounds} rounds'
    )
    print("| data | pipeline | views per CPU-second | vs the authors' |")
    print('|---|---|---|---|')
    for family, name, rate, ratio in table:
        print(f'| {family} | {name} | {rate:.2f} | {ratio:.2f}x |')


if __name__ == '__main__':
    main()
