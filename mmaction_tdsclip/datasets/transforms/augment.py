"""Clip-consistent augmentations and the crops used at test time.

Every transform here treats ``results['imgs']`` (a list of ``(H, W, 3)``
uint8 RGB frames) as one clip: the random decisions are drawn once per call
and applied identically to every frame, so the temporal differences the
side network reads stay meaningful. Pixels follow the authors' PIL data
path (RandAugment with bicubic resampling and fill 128, PIL's luma for
grayscale); ``tests/datasets/test_authors_pixels.py`` compares them with an
independent re-implementation of it.
"""

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from PIL import Image, ImageEnhance

from .resize import RESAMPLE

# One RandAugment op as applied to a clip: (op name, magnitude, negate).
PlanStep = Tuple[str, float, bool]


# A rectangle of the frame, (x0, y0, x1, y1), ends exclusive.
Region = Tuple[int, int, int, int]


def _expand(region: Region, margin: int, width: int, height: int) -> Region:
    x0, y0, x1, y1 = region
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )


def _crop_to(img: Image.Image, src: Region, dst: Region) -> Image.Image:
    """The ``dst`` part of ``img``, which holds the ``src`` part of a frame."""
    if src == dst:
        return img
    return img.crop((dst[0] - src[0], dst[1] - src[1], dst[2] - src[0], dst[3] - src[1]))


def _crop_array(img: np.ndarray, src: Region, dst: Region) -> np.ndarray:
    """:func:`_crop_to` of an ``(h, w, 3)`` array (a view)."""
    return img[dst[1] - src[1] : dst[3] - src[1], dst[0] - src[0] : dst[2] - src[0]]


def _as_arrays(imgs: Sequence) -> List[np.ndarray]:
    return [np.asarray(img) if isinstance(img, Image.Image) else img for img in imgs]


def _as_images(imgs: Sequence) -> List[Image.Image]:
    return [img if isinstance(img, Image.Image) else Image.fromarray(img) for img in imgs]


class _Op:
    """One RandAugment op on frames that may hold only a region of the
    frame: ``source(dst)`` is the region its output over ``dst`` depends on,
    ``apply`` maps images of ``src`` to images of ``dst``: PIL images, or
    ``(h, w, 3)`` uint8 arrays where ``takes_arrays`` (saves conversions
    between ops that run outside PIL)."""

    def takes_arrays(self, size: Tuple[int, int], level: float, negate: bool, aug) -> bool:
        return False

    def source(self, dst: Region, size: Tuple[int, int], level: float, negate: bool) -> Region:
        return dst

    def apply(self, imgs, src, dst, size, level, negate, aug) -> List[Image.Image]:
        raise NotImplementedError


class _LutOp(_Op):
    """Each channel value through one 256-entry table (PIL's ``point``
    does the same lookup; ``cv2.LUT`` here, on arrays)."""

    def __init__(self, make_lut: Callable[[float, bool], np.ndarray]) -> None:
        self.make_lut = make_lut

    def takes_arrays(self, size, level, negate, aug):
        return True

    def apply(self, imgs, src, dst, size, level, negate, aug):
        lut = self.make_lut(level, negate)
        return [cv2.LUT(_crop_array(img, src, dst), lut) for img in imgs]


class _PixelOp(_Op):
    """A PIL function of each pixel alone (``Color`` blends with the pixel's
    own luma)."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def apply(self, imgs, src, dst, size, level, negate, aug):
        return [_crop_to(self.fn(img, level, negate), src, dst) for img in imgs]


class _FrameOp(_Op):
    """An op of the whole frame's histogram or mean: needs every pixel of
    the frame."""

    def source(self, dst, size, level, negate):
        return (0, 0, size[0], size[1])


class _FilterOp(_Op):
    """A 3 x 3 filter (``Sharpness``): one pixel of margin; PIL leaves the
    frame's border pixels unfiltered, the margin keeps the region's own
    border away from that rule."""

    def source(self, dst, size, level, negate):
        return _expand(dst, 1, *size)


def _histograms(frames: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, 3, 256)`` int64: each frame's histogram per channel (PIL's
    ``histogram`` of an RGB image)."""
    return np.array(
        [
            [cv2.calcHist([frame], [c], None, [256], [0, 256])[:, 0] for c in range(3)]
            for frame in frames
        ],
        dtype=np.int64,
    )


def _autocontrast_luts(hist: np.ndarray) -> np.ndarray:
    """``ImageOps.autocontrast`` (no cutoff) as tables, ``(..., 256)``
    counts to ``(..., 256)`` uint8: the lowest and highest values present
    stretched to 0 and 255 (``int(v * scale + offset)``, in double as
    PIL), or unchanged when one value fills the channel."""
    present = hist > 0
    low = np.argmax(present, axis=-1)[..., None]
    high = 255 - np.argmax(present[..., ::-1], axis=-1)[..., None]
    scale = 255.0 / np.maximum(high - low, 1)
    lut = np.trunc(np.arange(256) * scale + -low * scale)
    lut = np.where(high <= low, np.arange(256), lut)
    return np.clip(lut, 0, 255).astype(np.uint8)


def _equalize_luts(hist: np.ndarray) -> np.ndarray:
    """``ImageOps.equalize`` as tables, ``(..., 256)`` counts to ``(...,
    256)`` uint8: ``step = (count - count of the highest value present) //
    255``, value ``i`` to ``(step // 2 + count below i) // step``, unchanged
    when ``step`` is 0 or one value fills the channel."""
    present = hist > 0
    highest = 255 - np.argmax(present[..., ::-1], axis=-1)
    top = np.take_along_axis(hist, highest[..., None], axis=-1)
    step = (hist.sum(-1, keepdims=True) - top) // 255
    below = np.cumsum(hist, axis=-1) - hist
    lut = (step // 2 + below) // np.maximum(step, 1)
    identity = (present.sum(-1, keepdims=True) <= 1) | (step == 0)
    lut = np.where(identity, np.arange(256), lut)
    return np.clip(lut, 0, 255).astype(np.uint8)


def _blend(base: np.ndarray, img: np.ndarray, factor: float) -> np.ndarray:
    """``Image.blend(base, img, factor)`` of uint8 arrays: ``base + factor
    * (img - base)`` in single precision, clipped and truncated, as PIL."""
    out = np.subtract(img, base, dtype=np.int16).astype(np.float32)
    out *= np.float32(factor)
    out += base
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


class _HistogramOp(_FrameOp):
    """``AutoContrast`` / ``Equalize``: a table per frame and channel from
    the frame's histogram (the tables of PIL's functions), applied with
    ``cv2.LUT``."""

    def __init__(self, make_luts: Callable[[np.ndarray], np.ndarray]) -> None:
        self.make_luts = make_luts

    def takes_arrays(self, size, level, negate, aug):
        return True

    def apply(self, imgs, src, dst, size, level, negate, aug):
        luts = self.make_luts(_histograms(imgs))  # (N, 3, 256)
        return [
            cv2.LUT(_crop_array(img, src, dst), np.ascontiguousarray(lut.T[:, None]))
            for img, lut in zip(imgs, luts)
        ]


class _ContrastOp(_FrameOp):
    """``ImageEnhance.Contrast``: a blend with the frame's mean luma
    (``int(mean + 0.5)`` of PIL's ``convert('L')``), a table per frame."""

    def __init__(self, factor: Callable[[float, bool], float]) -> None:
        self.factor = factor

    def takes_arrays(self, size, level, negate, aug):
        return True

    def apply(self, imgs, src, dst, size, level, negate, aug):
        factor = self.factor(level, negate)
        out = []
        for img in imgs:
            lut = _blend_lut(float(int(luma(img).mean() + 0.5)), factor)
            out.append(cv2.LUT(_crop_array(img, src, dst), lut))
        return out


# PIL's ImageFilter.SMOOTH: weights 1 around 5, over 13. PIL sums in single
# precision plus 0.5 and truncates; the exact sum / 13 + 0.5 is never within
# 1/26 of an integer, so that is round(sum / 13), which OpenCV's filter gives.
_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13


class _SharpnessOp(_FilterOp):
    """``ImageEnhance.Sharpness``: a blend with PIL's ``SMOOTH`` filter of
    the frame, which leaves the frame's border pixels as they are."""

    def __init__(self, factor: Callable[[float, bool], float]) -> None:
        self.factor = factor

    def takes_arrays(self, size, level, negate, aug):
        return True

    def apply(self, imgs, src, dst, size, level, negate, aug):
        factor = self.factor(level, negate)
        out = []
        for img in imgs:
            smooth = cv2.filter2D(img, -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE)
            smooth[[0, -1]] = img[[0, -1]]
            smooth[:, [0, -1]] = img[:, [0, -1]]
            out.append(_blend(_crop_array(smooth, src, dst), _crop_array(img, src, dst), factor))
        return out


def _pil_affine_cubic(d: np.ndarray) -> np.ndarray:
    """``(..., 4)`` weights of the taps at offsets -1, 0, 1, 2 from
    ``floor(position)`` for fractional parts ``d``: the cubic of PIL's
    affine ``transform`` (``libImaging/Geometry.c``), cubic convolution with
    ``a = -1`` (PIL's ``resize`` uses ``a = -0.5``)."""
    d2 = d * d
    d3 = d2 * d
    return np.stack([2 * d2 - d - d3, 1 - 2 * d2 + d3, d + d2 - d3, d3 - d2], axis=-1)


# Added before truncating: PIL truncates its double-precision sum; the
# float32 sums here land within ~5e-5 of it, so an exact integer (every flat
# area) would otherwise now and then truncate one level low. Values within
# the margin below an integer (about 3e-4 of them) come out one level high.
_TRUNCATION_MARGIN = 1e-4


def line_axis(matrix: Sequence[float]) -> Optional[str]:
    """``'x'`` when the affine map moves each row along itself by whole
    input pixels per output pixel (``ShearX``, ``TranslateXRel``: ``xin = u
    + b v + c``, ``yin = v``), ``'y'`` likewise for columns, else None."""
    a, b, c, d, e, f = matrix
    if a == 1 and d == 0 and e == 1 and f == 0:
        return 'x'
    if a == 1 and b == 0 and c == 0 and e == 1:
        return 'y'
    return None


def affine_bicubic_lines(
    frames: Sequence[np.ndarray],
    matrix: Sequence[float],
    src: Region,
    dst: Region,
    size: Tuple[int, int],
    fill: Sequence[int],
) -> List[np.ndarray]:
    """PIL's bicubic affine ``transform`` for maps that shift lines
    (:func:`line_axis`) in OpenCV: one gather per frame, then one filter per
    frame (translations) or per line of all frames (shears).

    ``frames``: ``(h, w, 3)`` uint8, the ``src`` part of frames of ``size``
    ``(W, H)``; returns ``(h', w', 3)`` uint8 frames, the ``dst`` part of the
    whole-frame result. As PIL: output pixel ``(x, y)`` samples the input
    at ``(a u + b v + c, d u + e v + f)``, ``(u, v) = (x + 0.5, y + 0.5)``
    (positions in double precision, sums in float32); a position outside the frame gives ``fill``;
    otherwise the taps around it (pixel centres at ``+ 0.5``), clamped to
    the frame, are weighted by :func:`_pil_affine_cubic`, the sum clipped
    to ``[0, 255]`` and truncated. Along a row (``'x'``) the position steps
    by exactly one pixel and the other coordinate is a pixel centre, so
    each row is one integer shift (a gather, ``cv2.remap``) and one 4-tap
    filter with the row's weights (``cv2.filter2D`` over that row of every
    frame); likewise for columns. ``src`` must hold
    every tap (``_AffineOp.source``).
    """
    a, b, c, d, e, f = matrix
    axis = line_axis(matrix)
    if axis is None:
        raise ValueError(f'affine_bicubic_lines: {matrix} does not shift rows or columns')
    width, height = size
    out_w, out_h = dst[2] - dst[0], dst[3] - dst[1]
    us = np.arange(dst[0], dst[2]) + 0.5
    vs = (np.arange(dst[1], dst[3]) + 0.5)[:, None]
    xin, yin = a * us + b * vs + c, d * us + e * vs + f
    inside = (xin >= 0) & (xin < width) & (yin >= 0) & (yin < height)
    # Position of each line's first output pixel; the others follow by +1
    # (up to rounding that moves a tap from weight 1 at d = 0 to weight 1
    # at d = 1 of the previous one: the same pixel).
    if axis == 'x':
        first = xin[:, :1] - 0.5
        start = np.floor(first)
        offsets = np.arange(out_w + 3) - 1
        cols = np.clip(start.astype(np.int64) + offsets, 0, width - 1) - src[0]
        rows = np.broadcast_to(np.arange(dst[1], dst[3])[:, None] - src[1], cols.shape)
    else:
        first = yin[:1, :] - 0.5
        start = np.floor(first)
        offsets = np.arange(out_h + 3)[:, None] - 1
        rows = np.clip(start.astype(np.int64) + offsets, 0, height - 1) - src[1]
        cols = np.broadcast_to(np.arange(dst[0], dst[2]) - src[0], rows.shape)
    src_h, src_w = frames[0].shape[:2]
    if cols.min() < 0 or cols.max() >= src_w or rows.min() < 0 or rows.max() >= src_h:
        raise ValueError(f'affine_bicubic_lines: region {src} lacks taps of region {dst}')
    kernels = _pil_affine_cubic(first - start).reshape(-1, 1, 4).astype(np.float32)
    outside = (~inside).astype(np.uint8)
    fill_map = np.empty((out_h, out_w, 3), np.uint8)
    fill_map[:] = fill
    # To uint8 rounds to nearest and saturates: the truncation of the sum
    # plus the margin.
    delta = _TRUNCATION_MARGIN - 0.5
    gather = np.stack([cols, rows], axis=-1)
    if (b if axis == 'x' else d) == 0:
        # A translation: the same weights on every line, one filter a frame.
        kernel = kernels[0] if axis == 'x' else kernels[0].T
        gather = np.ascontiguousarray(gather, dtype=np.int16)
        out = []
        for frame in frames:
            lines = cv2.remap(frame, gather, None, cv2.INTER_NEAREST)
            filtered = cv2.filter2D(lines, -1, kernel, anchor=(0, 0), delta=delta)
            filtered = np.ascontiguousarray(filtered[:out_h, :out_w])
            out.append(cv2.copyTo(fill_map, outside, filtered))
        return out
    # A shear: the taps of every line, a line per row (columns gathered
    # transposed), then one filter per line of all frames at once.
    if axis == 'y':
        gather = gather.transpose(1, 0, 2)
    gather = np.ascontiguousarray(gather, dtype=np.int16)
    lines = np.empty((len(frames),) + gather.shape[:2] + (3,), np.uint8)
    for k, frame in enumerate(frames):
        lines[k] = cv2.remap(frame, gather, None, cv2.INTER_NEAREST)
    length = out_w if axis == 'x' else out_h
    out = np.empty((len(frames), out_h, out_w, 3), np.uint8)
    for i, kernel in enumerate(kernels):
        filtered = cv2.filter2D(lines[:, i], -1, kernel, anchor=(0, 0), delta=delta)
        if axis == 'x':
            out[:, i] = filtered[:, :length]
        else:
            out[:, :, i] = filtered[:, :length]
    return [cv2.copyTo(fill_map, outside, frame) for frame in out]


class _AffineOp(_Op):
    """PIL's affine ``transform`` (border ``fill``); ``matrix(level,
    negate, size)`` maps output pixel centres to input positions. Bicubic
    shears and translations run in OpenCV (:func:`affine_bicubic_lines`,
    PIL's pixels, 3-8x faster); rotations and other filters run PIL frame
    by frame (a rotation reads 16 taps per pixel at scattered positions,
    which vectorised gathers do no faster than PIL's loop)."""

    def __init__(self, matrix: Callable) -> None:
        self.matrix = matrix

    def source(self, dst, size, level, negate):
        a, b, c, d, e, f = self.matrix(level, negate, size)
        xs = np.array([dst[0] + 0.5, dst[2] - 0.5, dst[0] + 0.5, dst[2] - 0.5])
        ys = np.array([dst[1] + 0.5, dst[1] + 0.5, dst[3] - 0.5, dst[3] - 0.5])
        xin, yin = a * xs + b * ys + c, d * xs + e * ys + f
        # Bicubic reads 1 pixel before and 2 after the input position.
        x0, x1 = int(np.floor(xin.min())) - 3, int(np.ceil(xin.max())) + 3
        y0, y1 = int(np.floor(yin.min())) - 3, int(np.ceil(yin.max())) + 3
        x0, x1 = min(max(0, x0), size[0] - 1), max(min(size[0], x1), 1)
        y0, y1 = min(max(0, y0), size[1] - 1), max(min(size[1], y1), 1)
        return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)

    def takes_arrays(self, size, level, negate, aug):
        matrix = self.matrix(level, negate, size)
        return aug.resample == Image.BICUBIC and line_axis(matrix) is not None

    def apply(self, imgs, src, dst, size, level, negate, aug):
        matrix = self.matrix(level, negate, size)
        if self.takes_arrays(size, level, negate, aug):
            return affine_bicubic_lines(imgs, matrix, src, dst, size, aug.fill)
        a, b, c, d, e, f = matrix
        # The same map with output and input origins at dst and src.
        local = (
            a,
            b,
            a * dst[0] + b * dst[1] + c - src[0],
            d,
            e,
            d * dst[0] + e * dst[1] + f - src[1],
        )
        out_size = (dst[2] - dst[0], dst[3] - dst[1])
        return [
            img.transform(out_size, Image.AFFINE, local, aug.resample, fillcolor=aug.fill)
            for img in imgs
        ]


def _sign(value: float, negate: bool) -> float:
    return -value if negate else value


def _rotate_matrix(level: float, negate: bool, size: Tuple[int, int]) -> Tuple[float, ...]:
    """The matrix of PIL's ``Image.rotate`` about the frame centre, computed
    as PIL computes it."""
    angle = -math.radians(_sign(30.0 * level, negate) % 360.0)
    a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
    d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
    cx, cy = size[0] / 2, size[1] / 2
    return (a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy)


def _blend_lut(base: float, factor: float) -> np.ndarray:
    """``Image.blend(constant base, img, factor)`` as a table: PIL computes
    ``base + factor * (v - base)`` in single precision and truncates."""
    v = np.arange(256, dtype=np.float32)
    out = np.float32(base) + np.float32(factor) * (v - np.float32(base))
    return np.clip(np.trunc(out), 0, 255).astype(np.uint8)


def _posterize_lut(bits: int) -> np.ndarray:
    if bits >= 8:
        return np.arange(256, dtype=np.uint8)
    mask = ~(2 ** (8 - bits) - 1) & 0xFF
    return (np.arange(256) & mask).astype(np.uint8)


def _solarize_lut(threshold: int) -> np.ndarray:
    v = np.arange(256)
    return np.where(v < threshold, v, 255 - v).astype(np.uint8)


def _solarize_add_lut(add: int, threshold: int = 128) -> np.ndarray:
    v = np.arange(256)
    return np.where(v < threshold, np.minimum(255, v + add), v).astype(np.uint8)


def _factor(level: float, negate: bool) -> float:
    """Enhance factor of the ``...Increasing`` ops."""
    return 1.0 + _sign(0.9 * level, negate)


def _factor_original(level: float, negate: bool) -> float:
    """Enhance factor of timm's original ops (always stronger)."""
    return 0.1 + 1.8 * level


def _enhance(cls, factor: Callable[[float, bool], float]) -> Callable:
    return lambda img, level, negate: cls(img).enhance(factor(level, negate))


# timm's RandAugment ops (timm.data.auto_augment), by name, on a 0-1
# ``level`` = magnitude / 10: the same functions of PIL and the same level
# to argument maps, applied with the plan's sign.
_OPS: Dict[str, _Op] = {
    'AutoContrast': _HistogramOp(_autocontrast_luts),
    'Equalize': _HistogramOp(_equalize_luts),
    'Invert': _LutOp(lambda level, negate: np.arange(255, -1, -1, dtype=np.uint8)),
    'Rotate': _AffineOp(_rotate_matrix),
    'Posterize': _LutOp(lambda level, negate: _posterize_lut(int(4 * level))),
    'PosterizeIncreasing': _LutOp(lambda level, negate: _posterize_lut(4 - int(4 * level))),
    'Solarize': _LutOp(lambda level, negate: _solarize_lut(int(256 * level))),
    'SolarizeIncreasing': _LutOp(lambda level, negate: _solarize_lut(256 - int(256 * level))),
    'SolarizeAdd': _LutOp(lambda level, negate: _solarize_add_lut(int(110 * level))),
    'Color': _PixelOp(_enhance(ImageEnhance.Color, _factor_original)),
    'ColorIncreasing': _PixelOp(_enhance(ImageEnhance.Color, _factor)),
    'Contrast': _ContrastOp(_factor_original),
    'ContrastIncreasing': _ContrastOp(_factor),
    # Brightness blends with black: a table.
    'Brightness': _LutOp(lambda level, negate: _blend_lut(0.0, _factor_original(level, negate))),
    'BrightnessIncreasing': _LutOp(lambda level, negate: _blend_lut(0.0, _factor(level, negate))),
    'Sharpness': _SharpnessOp(_factor_original),
    'SharpnessIncreasing': _SharpnessOp(_factor),
    'ShearX': _AffineOp(lambda level, negate, size: (1, _sign(0.3 * level, negate), 0, 0, 1, 0)),
    'ShearY': _AffineOp(lambda level, negate, size: (1, 0, 0, _sign(0.3 * level, negate), 1, 0)),
    'TranslateXRel': _AffineOp(
        lambda level, negate, size: (1, 0, _sign(0.45 * level, negate) * size[0], 0, 1, 0)
    ),
    'TranslateYRel': _AffineOp(
        lambda level, negate, size: (1, 0, 0, 0, 1, _sign(0.45 * level, negate) * size[1])
    ),
}


@TRANSFORMS.register_module()
class ClipRandAugment(BaseTransform):
    """RandAugment with the same ops and magnitudes on every frame of a clip.

    timm's RandAugment (``timm.data.auto_augment``) as the authors run it:
    the config string is parsed by timm, and per call ``n`` ops are drawn
    with replacement from its 15 ops (``AutoContrast``, ``Equalize``,
    ``Invert``, ``Rotate``, ``Posterize``, ``Solarize``, ``SolarizeAdd``,
    ``Color``, ``Contrast``, ``Brightness``, ``Sharpness``, ``ShearX/Y``,
    ``TranslateX/YRel``); each is applied with probability ``p`` (0.5), at a
    magnitude drawn from ``N(m, mstd)`` clipped to ``[0, 10]``, with a
    random sign for signed ops -- all drawn once and shared by the frames.
    Geometric ops resample with ``interpolation`` (bicubic, as the authors;
    timm's default draws bilinear or bicubic per image) and fill exposed
    borders with ``fill`` (timm's and the authors' 128 grey).

    The ops give PIL's pixels. Exactly: the table ops (``Brightness``,
    ``Invert``, ``Posterize``, ``Solarize``, ``SolarizeAdd``: PIL's tables
    through ``cv2.LUT``), ``AutoContrast`` and ``Equalize`` (PIL's tables
    from each frame's histogram), ``Contrast`` (a table per frame from PIL's
    mean luma), ``Sharpness`` (PIL's ``SMOOTH`` in OpenCV, PIL's blend in
    numpy) and ``Color`` (PIL). Bicubic shears and translations run for the
    whole clip (:func:`affine_bicubic_lines`, within one grey level of
    PIL's at under 1e-3 of the values); rotations in PIL frame by frame.
    :meth:`apply_plan`
    can compute a region of the result alone
    (``PillowRandomSizedCrop`` uses it to augment only the pixels its crop
    reads).

    Magnitude semantics (timm's, on a 0-10 scale; an op's level is
    ``magnitude / 10`` of its range): rotate up to +-30 degrees, shear
    +-0.3, translate +-0.45 of the image side, solarize-add up to 110. With
    ``-inc1`` (the default, the string video codebases such as VideoMAE and
    UniFormerV2 use for "m7 n4 mstd 0.5") the colour ops grow in severity
    with the magnitude: enhance factors ``1 +- 0.9 * level``, posterize
    keeps ``4 - int(4 * level)`` bits, solarize threshold
    ``256 - int(256 * level)``. Without it (``'rand-m7-n4-mstd0.5'``), timm's
    original variants apply: enhance factor ``0.1 + 1.8 * level`` (m7: 1.36,
    always stronger), posterize keeps ``int(4 * level)`` bits (m7: 2),
    solarize threshold ``int(256 * level)``. Content-dependent ops
    (``AutoContrast``, ``Equalize``, ``Contrast``) use each frame's own
    histogram.

    Required keys: ``imgs``. Modified keys: ``imgs``. Added keys:
    ``rand_augment_ops`` (the plan: ``(name, magnitude, negate)`` per op
    applied).

    Args:
        config_str: timm RandAugment config string.
        interpolation: ``'bicubic'`` or ``'bilinear'`` for the geometric ops.
        fill: RGB colour of the borders geometric ops expose.
    """

    def __init__(
        self,
        config_str: str = 'rand-m7-n4-mstd0.5-inc1',
        interpolation: str = 'bicubic',
        fill: Sequence[int] = (128, 128, 128),
    ) -> None:
        from timm.data.auto_augment import rand_augment_transform

        if interpolation not in RESAMPLE:
            raise ValueError(
                f'ClipRandAugment: interpolation must be one of {sorted(RESAMPLE)}, '
                f'got {interpolation!r}'
            )
        self.config_str = config_str
        self.interpolation = interpolation
        self.resample = RESAMPLE[interpolation]
        self.fill = tuple(int(c) for c in fill)
        self._timm = rand_augment_transform(config_str, {})
        unknown = sorted({op.name for op in self._timm.ops} - set(_OPS))
        if unknown:
            raise ValueError(
                f'ClipRandAugment: config_str {config_str!r} selects ops {unknown} that '
                f'this transform does not implement; use the rand-... strings of timm '
                f'RandAugment (ops: {sorted(_OPS)})'
            )

    def _draw_plan(self) -> List[PlanStep]:
        """``(name, magnitude, negate)`` of each op applied to this clip, in
        order; ops that lose their ``p`` draw are left out."""
        ops = self._timm.ops
        weights = self._timm.choice_weights
        chosen = np.random.choice(
            len(ops), self._timm.num_layers, replace=weights is None, p=weights
        )
        plan = []
        for index in chosen:
            op = ops[index]
            if op.prob < 1.0 and np.random.rand() > op.prob:
                continue
            magnitude = op.magnitude
            if op.magnitude_std == float('inf'):
                magnitude = np.random.uniform(0, magnitude)
            elif op.magnitude_std > 0:
                magnitude = np.random.normal(magnitude, op.magnitude_std)
            upper = op.magnitude_max or 10.0
            magnitude = float(min(max(magnitude, 0.0), upper))
            plan.append((op.name, magnitude, bool(np.random.rand() < 0.5)))
        return plan

    def apply_plan(
        self,
        frames: Sequence[np.ndarray],
        plan: Sequence[PlanStep],
        region: Optional[Region] = None,
    ) -> List[np.ndarray]:
        """Apply ``plan`` to every frame (``(H, W, 3)`` uint8).

        With ``region = (x0, y0, x1, y1)`` only those pixels of the result
        are computed and returned (``(y1 - y0, x1 - x0, 3)``): each op runs
        on the part of its input that the region depends on (the whole frame
        only for ops that read the frame's histogram or mean). The pixels
        are those of the whole-frame result.
        """
        height, width = frames[0].shape[:2]
        size = (width, height)
        regions = [region or (0, 0, width, height)]
        for name, magnitude, negate in reversed(plan):
            regions.insert(0, _OPS[name].source(regions[0], size, magnitude / 10.0, negate))
        x0, y0, x1, y1 = regions[0]
        # Views: every op returns new arrays.
        imgs = [f[y0:y1, x0:x1] for f in frames]
        for k, (name, magnitude, negate) in enumerate(plan):
            op, level = _OPS[name], magnitude / 10.0
            imgs = (
                _as_arrays(imgs) if op.takes_arrays(size, level, negate, self) else _as_images(imgs)
            )
            imgs = op.apply(imgs, regions[k], regions[k + 1], size, level, negate, self)
        return [np.array(img) if isinstance(img, Image.Image) else img for img in imgs]

    def transform(self, results: Dict) -> Dict:
        plan = self._draw_plan()
        results['rand_augment_ops'] = plan
        results['imgs'] = self.apply_plan(list(results['imgs']), plan)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(config_str={self.config_str!r}, '
            f'interpolation={self.interpolation!r}, fill={self.fill})'
        )


@TRANSFORMS.register_module()
class ClipRandomGrayscale(BaseTransform):
    """Turn the whole clip grey with probability ``prob``.

    Uses PIL's ITU-R 601 luma in its integer form, ``(19595 R + 38470 G +
    7471 B + 2**15) >> 16`` (torchvision's ``Grayscale`` on PIL images, as
    the authors), kept as 3 identical channels.

    Required keys: ``imgs``. Modified keys: ``imgs``. Added keys:
    ``grayscale`` (bool).

    Args:
        prob: Probability of converting the clip.
    """

    def __init__(self, prob: float = 0.2) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        gray = bool(np.random.rand() < self.prob)
        results['grayscale'] = gray
        if gray:
            clip = luma(np.stack(results['imgs']))  # (N, H, W)
            results['imgs'] = list(np.repeat(clip[..., None], 3, axis=3))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


# PIL's integer luma weights and rounding offset, as OpenCV's transform matrix.
_LUMA = np.array([[19595, 38470, 7471, 0x8000]], np.float32)


def luma(img: np.ndarray) -> np.ndarray:
    """PIL's ``convert('L')`` of ``(..., 3)`` uint8 RGB: ``(...)`` uint8,
    ``(19595 R + 38470 G + 7471 B + 2**15) >> 16``. Summed by OpenCV in
    single precision, which is exact here: every product and partial sum
    is an integer below ``2**24``."""
    weighted = cv2.transform(img.reshape(-1, 1, 3).astype(np.float32), _LUMA)
    weighted *= 1.0 / 65536
    return np.floor(weighted, out=weighted).astype(np.uint8).reshape(img.shape[:-1])


def _frame_size_for_crop(imgs, crop_w: int, crop_h: int, transform: str) -> Tuple[int, int]:
    """``(height, width)`` of the frames; a clear error when the crop does not fit."""
    img_h, img_w = imgs[0].shape[:2]
    if crop_w > img_w or crop_h > img_h:
        raise ValueError(
            f'{transform}: crop {crop_w}x{crop_h} (w x h) is larger than the frames '
            f'{img_w}x{img_h}; resize them to at least {crop_w} x {crop_h} first'
        )
    return img_h, img_w


@TRANSFORMS.register_module()
class LongSideThreeCrop(BaseTransform):
    """Three crops along the long side: start, centre and end.

    Stock ``ThreeCrop`` requires the crop to span the whole short side. The
    TDS-CLIP test protocol for Something-Something resizes to 256 x 320 and
    takes three 224 x 224 crops (left, centre, right), which this does: on
    the short axis every crop is centred; on the long axis they start at
    ``0``, ``(L - c) // 2`` and ``L - c``. On 256 x 320 frames that is the
    authors' full-resolution three-crop exactly (x = 0, 48, 96; y = 16).

    Required keys: ``imgs``. Modified keys: ``imgs`` (3x as many frames,
    crop-major as stock ``ThreeCrop``), ``img_shape``. Added keys:
    ``crop_bbox`` (``(3 * num_frames, 4)`` x1, y1, x2, y2).

    Args:
        crop_size: Side of the square crops, or ``(w, h)``.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]]) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        self.crop_size = tuple(int(s) for s in crop_size)

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        crop_w, crop_h = self.crop_size
        img_h, img_w = _frame_size_for_crop(imgs, crop_w, crop_h, 'LongSideThreeCrop')
        if img_w - crop_w >= img_h - crop_h:
            y = (img_h - crop_h) // 2
            offsets = [(x, y) for x in (0, (img_w - crop_w) // 2, img_w - crop_w)]
        else:
            x = (img_w - crop_w) // 2
            offsets = [(x, y) for y in (0, (img_h - crop_h) // 2, img_h - crop_h)]
        cropped, bboxes = [], []
        for x, y in offsets:
            cropped.extend(img[y : y + crop_h, x : x + crop_w] for img in imgs)
            bboxes.extend([[x, y, x + crop_w, y + crop_h]] * len(imgs))
        results['imgs'] = cropped
        results['crop_bbox'] = np.array(bboxes)
        results['img_shape'] = (crop_h, crop_w)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class FullResThreeCrop(BaseTransform):
    """The authors' test three-crop (``GroupFullResSample(flip=False)``).

    Three ``crop_size`` squares along the width, at x = 0, 2 q and 4 q with
    q = (W - crop_size) // 4, all at y = 2 ((H - crop_size) // 4) -- always
    along the width, also for portrait frames. On 256 x 320 frames: x = 0,
    48, 96 and y = 16 (there equal to ``LongSideThreeCrop``).

    Required keys: ``imgs``. Modified keys: ``imgs`` (3x as many frames,
    crop-major as stock ``ThreeCrop``), ``img_shape``. Added keys:
    ``crop_bbox`` (``(3 * num_frames, 4)`` x1, y1, x2, y2).

    Args:
        crop_size: Side of the square crops.
    """

    def __init__(self, crop_size: int = 224) -> None:
        self.crop_size = int(crop_size)

    def transform(self, results: Dict) -> Dict:
        imgs, size = results['imgs'], self.crop_size
        img_h, img_w = _frame_size_for_crop(imgs, size, size, 'FullResThreeCrop')
        step_x, y = (img_w - size) // 4, 2 * ((img_h - size) // 4)
        cropped, bboxes = [], []
        for x in (0, 2 * step_x, 4 * step_x):
            cropped.extend(img[y : y + size, x : x + size] for img in imgs)
            bboxes.extend([[x, y, x + size, y + size]] * len(imgs))
        results['imgs'] = cropped
        results['crop_bbox'] = np.array(bboxes)
        results['img_shape'] = (size, size)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class TorchvisionCenterCrop(BaseTransform):
    """Centre crop with torchvision's offsets, ``int(round((W - size) / 2))``
    (Python's round, half to even) -- the authors' ``GroupCenterCrop``.
    Stock ``CenterCrop`` floors, which differs by one pixel when ``W - size``
    is odd and ``(W - size) / 2`` rounds up.

    Required keys: ``imgs``. Modified keys: ``imgs``, ``img_shape``. Added
    keys: ``crop_bbox`` (x1, y1, x2, y2).

    Args:
        crop_size: Side of the square crop.
    """

    def __init__(self, crop_size: int = 224) -> None:
        self.crop_size = int(crop_size)

    def transform(self, results: Dict) -> Dict:
        imgs, size = results['imgs'], self.crop_size
        img_h, img_w = _frame_size_for_crop(imgs, size, size, 'TorchvisionCenterCrop')
        x, y = int(round((img_w - size) / 2.0)), int(round((img_h - size) / 2.0))
        results['imgs'] = [img[y : y + size, x : x + size] for img in imgs]
        results['crop_bbox'] = np.array([x, y, x + size, y + size])
        results['img_shape'] = (size, size)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'
