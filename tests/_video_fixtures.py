"""Tiny video fixtures and tiny-model config overrides shared by the data
tests (plain functions; each test module wraps what it needs in a
session-scoped fixture)."""

import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from mmaction_tdsclip.datasets.synthetic import write_frame_folder, write_video


def make_broken_videos(root: str) -> Dict[str, str]:
    """Really broken (and borderline) files, by name.

    - ``zero``: a zero-byte ``.mp4``;
    - ``random``: 4 KB of random bytes named ``.mp4``;
    - ``truncated``: the first half of an ``.mp4`` whose index (``moov``)
      sits at the end, so the index is lost;
    - ``truncated_faststart``: the first 60 % of an ``.mp4`` with the index
      first: the header promises 40 frames the data no longer holds;
    - ``two_frames``: a valid 2-frame video;
    - ``tiny``: a valid video of 1 x 1 pixel frames;
    - ``odd``: a valid 45 x 61 video (odd sides);
    - ``good``: a valid 40-frame video;
    - ``missing``: a path that does not exist.
    """
    os.makedirs(root, exist_ok=True)
    paths = {}
    paths['zero'] = osp.join(root, 'zero.mp4')
    open(paths['zero'], 'wb').close()
    paths['random'] = osp.join(root, 'random.mp4')
    with open(paths['random'], 'wb') as f:
        f.write(np.random.RandomState(0).bytes(4096))
    for name, faststart, keep in (('truncated', False, 0.5), ('truncated_faststart', True, 0.6)):
        full = write_video(osp.join(root, f'{name}_full.mp4'), 40, 64, 96, faststart=faststart)
        with open(full, 'rb') as f:
            data = f.read()
        paths[name] = osp.join(root, f'{name}.mp4')
        with open(paths[name], 'wb') as f:
            f.write(data[: int(len(data) * keep)])
        os.remove(full)
    paths['two_frames'] = write_video(osp.join(root, 'two.mp4'), 2, 64, 96)
    paths['tiny'] = write_video(osp.join(root, 'tiny.mp4'), 10, 1, 1)
    paths['odd'] = write_video(osp.join(root, 'odd.mp4'), 12, 45, 61)
    paths['good'] = write_video(osp.join(root, 'good.mp4'), 40, 64, 96)
    paths['missing'] = osp.join(root, 'does_not_exist.mp4')
    return paths


def make_video_list(
    root: str,
    names_labels: Sequence,
    num_frames: int = 30,
    height: int = 64,
    width: int = 96,
    ann_name: str = 'ann.txt',
) -> str:
    """Videos ``root/videos/<name>`` plus an MMAction2 video list
    ``<name> <label>`` at ``root/<ann_name>``; returns the list's path.

    Names that already exist (e.g. broken files copied in) are kept.
    """
    video_dir = osp.join(root, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    lines = []
    for name, label in names_labels:
        path = osp.join(video_dir, name)
        if not osp.exists(path):
            write_video(path, num_frames, height, width)
        lines.append(f'{name} {label}')
    ann = osp.join(root, ann_name)
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann


def make_rawframe_list(
    root: str,
    names_labels: Sequence,
    num_frames: int = 30,
    height: int = 64,
    width: int = 96,
    ann_name: str = 'ann.txt',
) -> str:
    """SSv1-style frame folders ``root/frames/<name>/{:05}.jpg`` (from 1)
    plus a list ``<name> <num_frames> <label>``; returns the list's path."""
    frame_root = osp.join(root, 'frames')
    lines = []
    for name, label in names_labels:
        folder = osp.join(frame_root, name)
        if not osp.isdir(folder):
            write_frame_folder(folder, num_frames, height, width)
        lines.append(f'{name} {num_frames} {label}')
    ann = osp.join(root, ann_name)
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann


# Frame sizes of the shipped configs scaled down for a 32-pixel backbone:
# 256 x 320 -> 32 x 40, 224 -> 32, short side 256 -> 36.
_TINY_SIZES = {(320, 256): (40, 32), (224, 224): (32, 32), (-1, 256): (-1, 36)}


def shrink_pipeline(pipeline):
    """A shipped pipeline with its resizes and crops scaled to 32 pixels."""
    out = []
    for t in pipeline:
        t = dict(t)
        if t['type'] == 'Resize':
            t['scale'] = _TINY_SIZES[tuple(t['scale'])]
        elif t['type'] in ('PillowResize', 'PillowRandomSizedCrop'):
            if t.get('scale') is not None:
                t['scale'] = _TINY_SIZES[tuple(t['scale'])]
            if t.get('short_side') is not None:
                t['short_side'] = 36
            if 'size' in t:
                t['size'] = 32
        elif t['type'] in (
            'CenterCrop',
            'LongSideThreeCrop',
            'TorchvisionCenterCrop',
            'FullResThreeCrop',
        ):
            t['crop_size'] = 32
        elif t['type'] == 'RepeatAugment':
            t['transforms'] = shrink_pipeline(t['transforms'])
        out.append(t)
    return out


def make_tiny(cfg):
    """Shrink a shipped config in place: a 2-layer, 64-wide frozen ViT on
    32 x 32 frames with no CLIP file, a 64-wide side network, plain
    (non-AMP) optimisation, 32-pixel pipelines, and only the schedulers with
    an explicit end (the warm-up): the cosine ends at train_cfg.max_epochs,
    which tiny runs set below its start."""
    cfg.model.backbone.update(
        arch=dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=16),
        img_size=32,
        pretrained=None,
    )
    cfg.model.neck.side_dim = 64
    cfg.model.cls_head.in_channels = 64
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.param_scheduler = [s for s in cfg.param_scheduler if 'end' in s]
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.pipeline = shrink_pipeline(loader.dataset.pipeline)
        cfg[f'{split}_pipeline'] = loader.dataset.pipeline
    return cfg


#: The containers and codecs datasets come in, as written by
#: :func:`make_codec_zoo`: name -> (file name, write_video arguments).
#: Inter-coded streams have several key frames (and H.264 has B-frames), so
#: decoders must really seek.
CODEC_ZOO = {
    'h264_mp4': ('h264.mp4', dict(codec='libx264', gop_size=12)),
    'h264_mp4_faststart': (
        'h264_faststart.mp4',
        dict(codec='libx264', gop_size=12, faststart=True),
    ),
    'h264_mkv': ('h264.mkv', dict(codec='libx264', gop_size=12)),
    'vp8_webm': ('vp8.webm', dict(codec='libvpx', gop_size=8)),
    'vp9_webm': ('vp9.webm', dict(codec='libvpx-vp9', gop_size=8)),
    'vp9_webm_odd': (
        'vp9_odd.webm',
        dict(codec='libvpx-vp9', gop_size=8, width=61, pix_fmt='yuv420p'),
    ),
    'mpeg4_avi': ('mpeg4.avi', dict(codec='mpeg4', gop_size=10)),
    'mjpeg_avi': ('mjpeg.avi', dict(codec='mjpeg', pix_fmt='yuvj420p')),
}


def make_codec_zoo(root: str, num_frames: int = 40, height: int = 48, width: int = 64) -> Dict:
    """Write every :data:`CODEC_ZOO` video (index-pattern frames with a
    panning texture) in a fresh process (libvpx cannot be opened once
    decord is imported); returns name -> path."""
    import json
    import subprocess
    import sys

    jobs = {}
    for name, (file_name, kwargs) in CODEC_ZOO.items():
        args = dict(height=height, width=width, texture=True, fps=12)
        args.update(kwargs)
        jobs[name] = (osp.join(root, file_name), args)
    code = (
        'import json, sys\n'
        'from mmaction_tdsclip.datasets.synthetic import write_video\n'
        'for path, args in json.loads(sys.argv[1]).values():\n'
        f'    write_video(path, {num_frames}, **args)\n'
    )
    subprocess.run([sys.executable, '-c', code, json.dumps(jobs)], check=True)
    return {name: path for name, (path, _) in jobs.items()}


def write_video_with_gap(
    path: str,
    num_frames: int,
    gap_after: int,
    gap: int,
    codec: str = 'libx264',
    height: int = 48,
    width: int = 64,
    fps: int = 12,
    start: int = 0,
) -> str:
    """An index-pattern video whose timestamps jump by ``gap`` extra frame
    durations after frame ``gap_after`` (the pictures stay consecutive) and
    start at ``start`` frame durations."""
    from fractions import Fraction

    import av

    from mmaction_tdsclip.datasets.synthetic import index_pattern

    with av.open(path, 'w') as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        stream.codec_context.gop_size = 8
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_pattern(i, height, width), format='rgb24')
            frame.pts = start + i + (gap if i > gap_after else 0)
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


#: Damaged videos of :func:`make_damaged_videos`: container -> (extension,
#: codec, write_video arguments).
DAMAGED_CONTAINERS = {
    'mp4': ('mp4', 'libx264', dict(faststart=True)),
    'mkv': ('mkv', 'libx264', {}),
    'vp8_webm': ('webm', 'libvpx', {}),
    'vp9_webm': ('webm', 'libvpx-vp9', {}),
}


def make_damaged_videos(root: str) -> Dict[str, str]:
    """Damaged files, written in a fresh process (libvpx cannot be opened
    once decord is imported):

    - ``cut_<container>``: a 60-frame video cut to 30 % of its bytes (the
      header still promises 60 frames, by count or by duration);
    - ``gap_<container>``: 40 frames whose timestamps jump by 24 frame
      durations after frame 19;
    - ``wide``: 1600 x 16 frames (aspect ratio 100);
    - ``late_<container>``: a valid 40-frame video whose first frame is at
      1 s (it must not count as truncated).
    """
    import json
    import subprocess
    import sys

    code = (
        'import json, os, sys\n'
        'sys.path.insert(0, sys.argv[2])\n'
        'from _video_fixtures import DAMAGED_CONTAINERS, write_video_with_gap\n'
        'from mmaction_tdsclip.datasets.synthetic import write_video\n'
        'root = sys.argv[1]\n'
        'paths = {}\n'
        'for name, (ext, codec, kwargs) in DAMAGED_CONTAINERS.items():\n'
        "    full = write_video(f'{root}/full_{name}.{ext}', 60, 48, 64, codec=codec,\n"
        '                       texture=True, gop_size=8, **kwargs)\n'
        "    data = open(full, 'rb').read()\n"
        "    paths[f'cut_{name}'] = f'{root}/cut_{name}.{ext}'\n"
        "    open(paths[f'cut_{name}'], 'wb').write(data[: int(len(data) * 0.3)])\n"
        '    os.remove(full)\n'
        "    paths[f'gap_{name}'] = write_video_with_gap(f'{root}/gap_{name}.{ext}', 40, 19, 24,\n"
        '                                                codec)\n'
        "    paths[f'late_{name}'] = write_video_with_gap(f'{root}/late_{name}.{ext}', 40, 0, 0,\n"
        '                                                 codec, start=12)\n'
        "paths['wide'] = write_video(f'{root}/wide.mp4', 8, 16, 1600)\n"
        'print(json.dumps(paths))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code, root, osp.dirname(osp.abspath(__file__))],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
