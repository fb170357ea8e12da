"""Generate a small procedural video dataset whose classes are time-reversed
pairs, in MMAction2's ``VideoDataset`` annotation format.

Every rendered sequence is written twice: once as is (class ``2k``) and once
with its frames in reverse order (class ``2k + 1``, the "twin" of ``2k``).
Both clips of a sequence land in the same split. The two clips of a pair hold
the same multiset of frames, so any model that looks at frames without their
order (e.g. frame averaging) cannot tell the two classes of a pair apart and
scores exactly chance within pairs. Only motion tells them apart.

Three traps of synthetic reversal benchmarks are handled here:

* every frame is an intra-coded MJPEG image at a fixed quantiser, so a pair's
  decoded frames are exact reversals of each other (inter-frame codecs and
  rate control make a reversed clip decode differently, which leaks the
  direction of time into single frames);
* left/right and clockwise/anticlockwise are classes, so training must not
  use horizontal flip (or must swap those labels);
* the moving object covers a large part of the frame (about a third of the
  width), so models that mean-pool over space still see it.

Output layout::

    OUT_DIR/
        videos/{split}/{index:05d}_{class_name}.mp4
        train.txt  val.txt  test.txt   # "videos/<split>/<file>.mp4 <label>"
        classes.txt                    # one class name per line, line = label
        meta.json                      # generator parameters (used to skip
                                       # regeneration when they match)

Example::

    python tools/data/make_reversal_dataset.py data/reversal --num-videos 480
"""

import argparse
import json
import os
import os.path as osp
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Sequence, Tuple

import av
import numpy as np

#: Version of the rendering code; bump it when the pixels it writes change.
GENERATOR_VERSION = 4

#: (forward class, reversed class) for each kind of motion. The forward clip
#: is rendered, the reversed clip is the same frames in opposite order.
PAIRS: Tuple[Tuple[str, str], ...] = (
    ('moving_right', 'moving_left'),
    ('moving_down', 'moving_up'),
    ('approaching', 'receding'),
    ('rotating_clockwise', 'rotating_anticlockwise'),
    ('appearing', 'vanishing'),
    ('brightening', 'darkening'),
)

CLASSES: Tuple[str, ...] = tuple(name for pair in PAIRS for name in pair)

SPLITS: Tuple[str, ...] = ('train', 'val', 'test')
#: Fractions of the pairs of each motion kind that go to train / val / test.
SPLIT_FRACTIONS: Tuple[float, float, float] = (0.7, 0.1, 0.2)

#: Fixed MJPEG quantiser: a constant quantiser (no rate control) makes each
#: frame's bytes depend on that frame alone.
MJPEG_QSCALE = 2
_FF_QP2LAMBDA = 118


def twin_label(label: int) -> int:
    """Label of the time-reversed twin class of ``label``."""
    return label ^ 1


# ----------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------
def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of a unit-sized shape in object-local coordinates.

    Args:
        shape: Shape name.
        u, v: Local coordinates (same shape), the object spans about
            [-1, 1] on both axes.

    Returns:
        Boolean array, the shape of ``u``.
    """
    if shape == 'disk':
        return u * u + v * v <= 1.0
    if shape == 'square':
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85
    if shape == 'diamond':
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == 'ellipse':
        return u * u + (v * v) / 0.3 <= 1.0
    if shape == 'ring':
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    if shape == 'cross':
        return ((np.abs(u) <= 0.35) & (np.abs(v) <= 1.0)) | (
            (np.abs(v) <= 0.35) & (np.abs(u) <= 1.0)
        )
    if shape == 'triangle':
        # Equilateral triangle with vertices at angles 90, 210, 330 degrees.
        inside = np.ones_like(u, dtype=bool)
        for ang in (np.pi / 2, np.pi * 7 / 6, np.pi * 11 / 6):
            # Each edge's outward normal points away from the opposite vertex.
            nx, ny = -np.cos(ang), -np.sin(ang)
            inside &= u * nx + v * ny <= 0.5
        return inside
    raise ValueError(f'unknown shape {shape!r}')


SHAPES: Tuple[str, ...] = ('disk', 'square', 'diamond', 'ellipse', 'ring', 'cross', 'triangle')


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _contrasting_colour(
    rng: np.random.Generator, others: Sequence[np.ndarray], min_dist: float = 90.0
) -> np.ndarray:
    """A random colour at least ``min_dist`` (RGB distance) from each of
    ``others``, so the object stands out from the background (best effort
    after a few draws)."""
    best, best_dist = None, -1.0
    for _ in range(20):
        colour = _random_colour(rng)
        dist = min(float(np.linalg.norm(colour - o)) for o in others)
        if dist >= min_dist:
            return colour
        if dist > best_dist:
            best, best_dist = colour, dist
    return best


def _render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static cluttered background: gradient, clutter shapes and noise.

    Returns:
        float32 array (size, size, 3) in [0, 255].
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) + 0.5
    c0, c1 = _random_colour(rng), _random_colour(rng)
    img = c0 + (c1 - c0) * ramp[..., None]
    for _ in range(rng.integers(4, 9)):
        # Clutter is smaller than the object so the object stays salient.
        r = rng.uniform(0.04, 0.14) * size
        cx, cy = rng.uniform(0, size, size=2)
        shape = SHAPES[rng.integers(len(SHAPES))]
        theta = rng.uniform(0, 2 * np.pi)
        u, v = _local_coords(
            xx * (size - 1), yy * (size - 1), cx, cy, r, theta, aspect=rng.uniform(0.5, 2.0)
        )
        mask = _shape_mask(shape, u, v)
        img[mask] = _random_colour(rng)
    img += rng.normal(0, 4, size=img.shape)
    return img.astype(np.float32)


def _local_coords(
    x: np.ndarray,
    y: np.ndarray,
    cx: float,
    cy: float,
    radius: float,
    theta: float,
    aspect: float = 1.0,
) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates -> coordinates of an object centred at (cx, cy) of
    half-size ``radius`` rotated by ``theta`` (clockwise on screen, since the
    image y axis points down)."""
    dx, dy = (x - cx) / radius, (y - cy) / radius
    c, s = np.cos(theta), np.sin(theta)
    u = c * dx + s * dy
    v = -s * dx + c * dy
    return u * aspect, v


class _Object:
    """A textured object of random shape and colours."""

    def __init__(
        self,
        rng: np.random.Generator,
        size: int,
        background: np.ndarray,
        need_texture: bool = False,
    ) -> None:
        self.shape = SHAPES[rng.integers(len(SHAPES))]
        bg_mean = background.reshape(-1, 3).mean(0)
        first = _contrasting_colour(rng, [bg_mean])
        self.colours = (first, _contrasting_colour(rng, [bg_mean, first]))
        # Stripes in object coordinates make rotation visible for any shape;
        # plain clutter never has them, so they also mark the object.
        self.striped = True
        self.stripe_freq = rng.uniform(1.5, 3.0)
        self.stripe_phase = rng.uniform(0, 2 * np.pi)
        self.radius = rng.uniform(0.16, 0.24) * size
        self.aspect = rng.uniform(0.8, 1.25)

    def paint(
        self,
        img: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        cx: float,
        cy: float,
        scale: float = 1.0,
        theta: float = 0.0,
        alpha: float = 1.0,
    ) -> None:
        """Alpha-blend the object into ``img`` (H, W, 3) in place."""
        u, v = _local_coords(x, y, cx, cy, self.radius * scale, theta, self.aspect)
        mask = _shape_mask(self.shape, u, v)
        if self.striped:
            stripe = np.sin(np.pi * self.stripe_freq * u + self.stripe_phase) > 0
            colour = np.where(stripe[..., None], self.colours[0], self.colours[1])
        else:
            colour = np.broadcast_to(self.colours[0], img.shape)
        img[mask] = (1 - alpha) * img[mask] + alpha * colour[mask]


def _render_forward(kind: int, rng: np.random.Generator, size: int, num_frames: int) -> np.ndarray:
    """Render the forward clip of motion kind ``kind`` (class ``2 * kind``).

    Returns:
        uint8 array (num_frames, size, size, 3), RGB.
    """
    bg = _render_background(rng, size)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    obj = _Object(rng, size, bg, need_texture=(kind == 3))
    # Progress along the motion; random speed and a random part of the range
    # so that extent and speed vary between clips.
    t = np.linspace(0.0, 1.0, num_frames)
    r = obj.radius
    frames = []
    if kind in (0, 1):
        travel = rng.uniform(0.35, 0.65) * size
        start = rng.uniform(r * 0.5, size - r * 0.5 - travel)
        other = rng.uniform(r, size - r)
        theta = rng.uniform(0, 2 * np.pi)
        for ti in t:
            img = bg.copy()
            pos = start + travel * ti
            cx, cy = (pos, other) if kind == 0 else (other, pos)
            obj.paint(img, x, y, cx, cy, theta=theta)
            frames.append(img)
    elif kind == 2:
        s0 = rng.uniform(0.35, 0.5)
        s1 = s0 * rng.uniform(3.0, 4.0)
        cx, cy = rng.uniform(0.35 * size, 0.65 * size, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        for ti in t:
            img = bg.copy()
            # Geometric interpolation: constant relative growth per frame.
            obj.paint(img, x, y, cx, cy, scale=s0 * (s1 / s0) ** ti, theta=theta)
            frames.append(img)
    elif kind == 3:
        sweep = rng.uniform(0.8 * np.pi, 1.6 * np.pi)
        theta0 = rng.uniform(0, 2 * np.pi)
        cx, cy = rng.uniform(0.35 * size, 0.65 * size, size=2)
        for ti in t:
            img = bg.copy()
            obj.paint(img, x, y, cx, cy, scale=1.5, theta=theta0 + sweep * ti)
            frames.append(img)
    elif kind == 4:
        cx, cy = rng.uniform(0.3 * size, 0.7 * size, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        # Fade in over a random part of the clip; fully absent / present at
        # the ends so the first and last frames differ the most.
        a0, a1 = rng.uniform(0.0, 0.3), rng.uniform(0.7, 1.0)
        for ti in t:
            img = bg.copy()
            alpha = float(np.clip((ti - a0) / (a1 - a0), 0.0, 1.0))
            obj.paint(img, x, y, cx, cy, scale=1.4, theta=theta, alpha=alpha)
            frames.append(img)
    elif kind == 5:
        cx, cy = rng.uniform(0.3 * size, 0.7 * size, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        g0 = rng.uniform(0.3, 0.5)
        g1 = rng.uniform(1.1, 1.4)
        base = bg.copy()
        obj.paint(base, x, y, cx, cy, theta=theta)
        for ti in t:
            frames.append(base * (g0 + (g1 - g0) * ti))
    else:
        raise ValueError(f'unknown motion kind {kind}')
    return np.clip(np.rint(np.stack(frames)), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------
def write_mjpeg(path: str, frames: np.ndarray, fps: int = 12) -> None:
    """Write RGB frames (N, H, W, 3) uint8 as intra-only MJPEG in ``.mp4``.

    A fixed quantiser and no rate control make every frame's bytes a function
    of that frame alone, so a clip and its reversal decode to exact reversals.
    """
    _, h, w, _ = frames.shape
    with av.open(path, 'w', format='mp4') as container:
        stream = container.add_stream('mjpeg', rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = 'yuvj444p'
        ctx = stream.codec_context
        ctx.flags |= av.codec.context.Flags.qscale | av.codec.context.Flags.bitexact
        ctx.global_quality = MJPEG_QSCALE * _FF_QP2LAMBDA
        ctx.qmin = ctx.qmax = MJPEG_QSCALE
        for frame in frames:
            vf = av.VideoFrame.from_ndarray(frame, format='rgb24')
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ----------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------
def plan_pairs(num_videos: int, seed: int) -> List[Tuple[int, int, str]]:
    """Assign each rendered sequence a motion kind and a split.

    Args:
        num_videos: Total number of clips (two per sequence; rounded down to
            an even number).
        seed: Random seed.

    Returns:
        One ``(sequence index, motion kind, split)`` per sequence.
    """
    num_seqs = num_videos // 2
    rng = np.random.default_rng([seed, 0])
    plan = []
    for kind in range(len(PAIRS)):
        idx = list(range(kind, num_seqs, len(PAIRS)))
        n = len(idx)
        n_val = int(round(n * SPLIT_FRACTIONS[1]))
        n_test = int(round(n * SPLIT_FRACTIONS[2]))
        if n >= 3:
            # Every split holds each class whenever there are enough clips.
            n_val, n_test = max(n_val, 1), max(n_test, 1)
        n_train = max(n - n_val - n_test, 0)
        splits = ['train'] * n_train + ['val'] * n_val + ['test'] * n_test
        splits = splits[:n]
        rng.shuffle(splits)
        plan.extend((i, kind, s) for i, s in zip(idx, splits))
    return sorted(plan)


def _make_sequence(job: Tuple[str, int, int, str, int, int, int]) -> List[Tuple[str, str, int]]:
    out_dir, seq, kind, split, seed, num_frames, size = job
    rng = np.random.default_rng([seed, 1, seq])
    frames = _render_forward(kind, rng, size, num_frames)
    records = []
    for label, clip in ((2 * kind, frames), (2 * kind + 1, frames[::-1])):
        rel = osp.join('videos', split, f'{2 * seq + (label & 1):05d}_{CLASSES[label]}.mp4')
        write_mjpeg(osp.join(out_dir, rel), np.ascontiguousarray(clip))
        records.append((split, rel, label))
    return records


def make_dataset(
    out_dir: str,
    num_videos: int = 480,
    seed: int = 0,
    num_frames: int = 32,
    size: int = 64,
    workers: int = 0,
) -> Dict:
    """Render the dataset into ``out_dir`` and write the annotation files.

    Args:
        out_dir: Output folder (created).
        num_videos: Total clips (two per rendered sequence).
        seed: Random seed; the same arguments give the same files.
        num_frames: Frames per clip.
        size: Frame height and width in pixels.
        workers: Worker processes (0: one per CPU core).

    Returns:
        The metadata written to ``meta.json``.
    """
    if num_videos < 2:
        raise ValueError('num_videos must be at least 2')
    for split in SPLITS:
        os.makedirs(osp.join(out_dir, 'videos', split), exist_ok=True)
    jobs = [
        (out_dir, seq, kind, split, seed, num_frames, size)
        for seq, kind, split in plan_pairs(num_videos, seed)
    ]
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(jobs) > 8:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_make_sequence, jobs, chunksize=8))
    else:
        results = [_make_sequence(job) for job in jobs]
    lines: Dict[str, List[str]] = {split: [] for split in SPLITS}
    for records in results:
        for split, rel, label in records:
            lines[split].append(f'{rel} {label}\n')
    for split in SPLITS:
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(lines[split])
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.writelines(name + '\n' for name in CLASSES)
    meta = dict(
        generator_version=GENERATOR_VERSION,
        num_videos=2 * (num_videos // 2),
        seed=seed,
        num_frames=num_frames,
        size=size,
        classes=list(CLASSES),
        pairs=[[2 * k, 2 * k + 1] for k in range(len(PAIRS))],
        counts={split: len(lines[split]) for split in SPLITS},
    )
    # Written last: its presence marks a complete dataset.
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    return meta


def dataset_matches(out_dir: str, num_videos: int, seed: int, num_frames: int, size: int) -> bool:
    """Whether ``out_dir`` already holds a complete dataset made with these
    parameters by this version of the generator."""
    path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(path):
        return False
    with open(path) as f:
        meta = json.load(f)
    want = dict(
        generator_version=GENERATOR_VERSION,
        num_videos=2 * (num_videos // 2),
        seed=seed,
        num_frames=num_frames,
        size=size,
        classes=list(CLASSES),
    )
    if any(meta.get(k) != v for k, v in want.items()):
        return False
    return all(osp.isfile(osp.join(out_dir, f'{s}.txt')) for s in SPLITS)


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='output folder')
    parser.add_argument(
        '--num-videos', type=int, default=480, help='total clips (two per rendered sequence)'
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--frames', type=int, default=32, help='frames per clip')
    parser.add_argument('--size', type=int, default=64, help='frame height and width')
    parser.add_argument(
        '--workers', type=int, default=0, help='worker processes (0: one per CPU core)'
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] = None) -> None:
    args = parse_args(argv)
    meta = make_dataset(
        args.out_dir, args.num_videos, args.seed, args.frames, args.size, args.workers
    )
    counts = ', '.join(f'{k} {v}' for k, v in meta['counts'].items())
    print(
        f'{meta["num_videos"]} clips of {args.frames} x {args.size} x '
        f'{args.size} in {len(CLASSES)} classes ({counts}) -> '
        f'{args.out_dir}'
    )


if __name__ == '__main__':
    main()
