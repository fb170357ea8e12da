"""An independent re-implementation of the authors' per-frame PIL data path.

Written from the facts about the released TDS-CLIP code (their
``datasets/transforms.py`` and ``datasets/rand_augment.py``, a copy of timm's
RandAugment), using only PIL on PIL images, frame by frame, as their code
runs. Nothing here imports ``mmaction_tdsclip``: tests and
``tools/benchmark_dataloading.py`` compare the package's pipelines with this.

Every random decision is an argument (the RandAugment plan, the crop box,
flip, grayscale), so a caller can force both implementations to the same
draws; :func:`draw_sized_crop` draws a box the authors' way for the
benchmark.

Frames go in as a list of PIL RGB images and come out as a float32 array
``(num_frames, 3, H, W)`` normalised with CLIP's mean and std, the authors'
last step.
"""

import math
import random
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
FILL = (128, 128, 128)

# ---------------------------------------------------------------- RandAugment
# 'rand-m7-n4-mstd0.5-inc1': n = 4 ops drawn from these 15, each applied with
# p = 0.5 at a magnitude m ~ N(7, 0.5) clipped to [0, 10]; signed ops negate
# with p = 0.5. A plan entry is (name, magnitude, negate).
RAND_OPS = (
    'AutoContrast',
    'Equalize',
    'Invert',
    'Rotate',
    'PosterizeIncreasing',
    'SolarizeIncreasing',
    'SolarizeAdd',
    'ColorIncreasing',
    'ContrastIncreasing',
    'BrightnessIncreasing',
    'SharpnessIncreasing',
    'ShearX',
    'ShearY',
    'TranslateXRel',
    'TranslateYRel',
)


def draw_rand_augment_plan(
    rng: random.Random, num_ops: int = 4, magnitude: float = 7.0, magnitude_std: float = 0.5
) -> List[Tuple[str, float, bool]]:
    """One clip's RandAugment draw (ops with replacement, p = 0.5 each)."""
    plan = []
    for name in rng.choices(RAND_OPS, k=num_ops):
        if rng.random() > 0.5:
            continue
        m = min(10.0, max(0.0, rng.gauss(magnitude, magnitude_std)))
        plan.append((name, m, rng.random() < 0.5))
    return plan


def _signed(value: float, negate: bool) -> float:
    return -value if negate else value


def _affine(img: Image.Image, matrix: Sequence[float]) -> Image.Image:
    return img.transform(img.size, Image.AFFINE, matrix, Image.BICUBIC, fillcolor=FILL)


def rand_augment_frame(img: Image.Image, plan: Sequence[Tuple[str, float, bool]]) -> Image.Image:
    """Apply a plan to one frame, as timm's op functions do with
    ``interpolation=bicubic`` and ``img_mean=(128, 128, 128)``."""
    for name, m, negate in plan:
        level = m / 10.0
        if name == 'AutoContrast':
            img = ImageOps.autocontrast(img)
        elif name == 'Equalize':
            img = ImageOps.equalize(img)
        elif name == 'Invert':
            img = ImageOps.invert(img)
        elif name == 'Rotate':
            img = img.rotate(_signed(30.0 * level, negate), resample=Image.BICUBIC, fillcolor=FILL)
        elif name == 'PosterizeIncreasing':
            bits = 4 - int(4 * level)
            img = img if bits >= 8 else ImageOps.posterize(img, bits)
        elif name == 'SolarizeIncreasing':
            img = ImageOps.solarize(img, 256 - int(256 * level))
        elif name == 'SolarizeAdd':
            add = int(110 * level)
            lut = [min(255, i + add) if i < 128 else i for i in range(256)]
            img = img.point(lut * 3)
        elif name.endswith('Increasing'):
            enhancer = {
                'ColorIncreasing': ImageEnhance.Color,
                'ContrastIncreasing': ImageEnhance.Contrast,
                'BrightnessIncreasing': ImageEnhance.Brightness,
                'SharpnessIncreasing': ImageEnhance.Sharpness,
            }[name]
            img = enhancer(img).enhance(1.0 + _signed(0.9 * level, negate))
        elif name == 'ShearX':
            img = _affine(img, (1, _signed(0.3 * level, negate), 0, 0, 1, 0))
        elif name == 'ShearY':
            img = _affine(img, (1, 0, 0, _signed(0.3 * level, negate), 1, 0))
        elif name == 'TranslateXRel':
            img = _affine(img, (1, 0, _signed(0.45 * level, negate) * img.size[0], 0, 1, 0))
        elif name == 'TranslateYRel':
            img = _affine(img, (1, 0, 0, 0, 1, _signed(0.45 * level, negate) * img.size[1]))
        else:
            raise KeyError(name)
    return img


# ---------------------------------------------------------------- geometry
def scale_ss(frames: List[Image.Image]) -> List[Image.Image]:
    """``GroupScale((256, 320))``: torchvision Resize to 256 x 320, bicubic."""
    return [img.resize((320, 256), Image.BICUBIC) for img in frames]


def scale_short_side(
    frames: List[Image.Image], size: int = 256, resample=Image.BICUBIC
) -> List[Image.Image]:
    """torchvision ``Resize(size)`` on PIL: short side to ``size``, the long
    side ``int(size * long / short)``; unchanged when already that size."""
    w, h = frames[0].size
    short, long = min(w, h), max(w, h)
    if short == size:
        return list(frames)
    new_long = int(size * long / short)
    new = (size, new_long) if w <= h else (new_long, size)
    return [img.resize(new, resample) for img in frames]


def draw_sized_crop(rng: random.Random, width: int, height: int) -> Optional[Tuple[int, ...]]:
    """``GroupRandomSizedCrop``'s box ``(x, y, w, h)``, or None for its
    fallback (scale short side to 224, random 224 crop)."""
    area = width * height
    for _ in range(10):
        target = rng.uniform(0.08, 1.0) * area
        aspect = rng.uniform(3 / 4, 4 / 3)
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if rng.random() < 0.5:
            w, h = h, w
        if w <= width and h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    return None


def sized_crop(frames: List[Image.Image], box: Tuple[int, ...], size: int = 224):
    x, y, w, h = box
    return [img.crop((x, y, x + w, y + h)).resize((size, size), Image.BILINEAR) for img in frames]


def sized_crop_fallback(frames: List[Image.Image], x: int, y: int, size: int = 224):
    """Fallback: short side to ``size`` (bilinear), then the crop at x, y."""
    frames = scale_short_side(frames, size, Image.BILINEAR)
    return [img.crop((x, y, x + size, y + size)) for img in frames]


def flip(frames: List[Image.Image]) -> List[Image.Image]:
    return [img.transpose(Image.FLIP_LEFT_RIGHT) for img in frames]


def grayscale(frames: List[Image.Image]) -> List[Image.Image]:
    """torchvision ``Grayscale(3)`` on PIL: ``convert('L')`` stacked x 3."""
    return [Image.merge('RGB', [img.convert('L')] * 3) for img in frames]


def center_crop(frames: List[Image.Image], size: int = 224) -> List[Image.Image]:
    """torchvision ``CenterCrop``: offsets ``int(round((W - size) / 2))``."""
    w, h = frames[0].size
    x, y = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return [img.crop((x, y, x + size, y + size)) for img in frames]


def full_res_three_crop(frames: List[Image.Image], size: int = 224) -> List[List[Image.Image]]:
    """``GroupFullResSample(size, flip=False)``: three crops along the width
    at x = 0, 2 q, 4 q with q = (W - size) // 4, at y = 2 ((H - size) // 4)."""
    w, h = frames[0].size
    qx, qy = (w - size) // 4, (h - size) // 4
    return [
        [img.crop((x, 2 * qy, x + size, 2 * qy + size)) for img in frames]
        for x in (0, 2 * qx, 4 * qx)
    ]


def normalise(frames: List[Image.Image]) -> np.ndarray:
    """``ToTensor`` then CLIP normalisation: ``(T, 3, H, W)`` float32."""
    arr = np.stack([np.asarray(img, dtype=np.float32) for img in frames]) / 255.0
    return ((arr - MEAN) / STD).transpose(0, 3, 1, 2)


# ---------------------------------------------------------------- pipelines
def test_views(frames: List[Image.Image], dataset: str) -> List[np.ndarray]:
    """The three test views of one clip (left, centre, right)."""
    frames = scale_ss(frames) if dataset == 'ss' else scale_short_side(frames)
    return [normalise(crop) for crop in full_res_three_crop(frames)]


def val_view(frames: List[Image.Image], dataset: str) -> np.ndarray:
    frames = scale_ss(frames) if dataset == 'ss' else scale_short_side(frames)
    return normalise(center_crop(frames))


def train_view(
    frames: List[Image.Image],
    dataset: str,
    plan: Sequence[Tuple[str, float, bool]] = (),
    box: Optional[Tuple[int, ...]] = None,
    fallback_xy: Tuple[int, int] = (0, 0),
    flipped: bool = False,
    gray: bool = False,
) -> np.ndarray:
    """One training view with the given draws. SS: RandAugment, 256 x 320,
    sized crop, flip. K400: short side 256, sized crop, flip, grayscale."""
    if dataset == 'ss':
        frames = scale_ss([rand_augment_frame(img, plan) for img in frames])
    else:
        frames = scale_short_side(frames)
    if box is None:
        frames = sized_crop_fallback(frames, *fallback_xy)
    else:
        frames = sized_crop(frames, box)
    if flipped:
        frames = flip(frames)
    if gray:
        frames = grayscale(frames)
    return normalise(frames)
