"""Resizes with PIL's filters, as the authors' data path resizes.

MMAction2's ``Resize`` resizes with cv2, which does not antialias when it
shrinks and whose bicubic differs from PIL's; the authors' models were
trained on PIL's (torchvision ``Resize`` on PIL images). These transforms
give PIL's pixels on ``(H, W, 3)`` uint8 RGB frames with torch's
antialiased kernels over the whole clip, one pass at a time in the order
PIL takes (:func:`resize_clip`), also for the pixels of a crop alone
(:func:`resize_clip_region`).
``tests/datasets/test_authors_pixels.py`` compares them with an independent
re-implementation of the authors' pipeline."""

import functools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from PIL import Image

# PIL's filter for each interpolation name.
RESAMPLE = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}


def _resample(name: str, field: str, owner: str) -> int:
    if name not in RESAMPLE:
        raise ValueError(f'{owner}: {field} must be one of {sorted(RESAMPLE)}, got {name!r}')
    return RESAMPLE[name]


def resized_size(
    width: int, height: int, scale: Optional[Sequence[int]], short_side: Optional[int]
) -> Tuple[int, int]:
    """``(w, h)`` after the resize: ``scale`` exactly, or the short side to
    ``short_side`` and the long side ``int(short_side * long / short)``
    (torchvision's rounding, which truncates)."""
    if scale is not None:
        return int(scale[0]), int(scale[1])
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def _check_size_args(owner: str, scale, short_side, required: bool) -> None:
    if scale is not None and short_side is not None:
        raise ValueError(f'{owner}: give scale=(w, h) or short_side, not both')
    if required and scale is None and short_side is None:
        raise ValueError(f'{owner}: give scale=(w, h) (exact size) or short_side (keep ratio)')
    if scale is not None and (len(scale) != 2 or min(scale) < 1):
        raise ValueError(f'{owner}: scale must be (w, h) with positive sides, got {scale}')
    if short_side is not None and short_side < 1:
        raise ValueError(f'{owner}: short_side must be positive, got {short_side}')


def source_region(
    box: Tuple[int, int, int, int], size: Tuple[int, int], src_size: Tuple[int, int]
) -> Tuple[int, int, int, int]:
    """The source pixels ``(x0, y0, x1, y1)`` (ends exclusive) that PIL's
    resize from ``src_size`` to ``size = (W, H)`` reads for the output
    pixels ``box = (x, y, w, h)``: the box scaled back plus the filter's
    support (bicubic: 2 output pixels, widened by the shrink factor)."""
    x, y, w, h = box
    sx, sy = src_size[0] / size[0], src_size[1] / size[1]
    mx, my = 2 * max(sx, 1.0) + 2, 2 * max(sy, 1.0) + 2
    return (
        max(0, int(math.floor(x * sx - mx))),
        max(0, int(math.floor(y * sy - my))),
        min(src_size[0], int(math.ceil((x + w) * sx + mx))),
        min(src_size[1], int(math.ceil((y + h) * sy + my))),
    )


def resize_clip_region(
    parts: Sequence[np.ndarray],
    size: Tuple[int, int],
    box: Tuple[int, int, int, int],
    interpolation: str,
    src_size: Tuple[int, int],
    origin: Tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Pixels ``box = (x, y, w, h)`` of whole frames resized to ``size =
    (W, H)``, computed for the clip at once without resizing the rest.

    ``parts``: ``(h_r, w_r, 3)`` uint8 arrays, the pixels from ``origin =
    (x0, y0)`` of frames of ``src_size = (W_src, H_src)``, covering at least
    :func:`source_region` of ``box``. Returns ``(N, h, w, 3)`` uint8.

    torch's antialiased kernels place output pixel ``i`` of a pass at input
    position ``(i + 0.5) * scale`` from the input's first pixel, so each
    pass runs on a buffer that starts where the frame starts (the pixels
    before ``origin`` are left uninitialised) and computes outputs ``0 ..
    x + w`` (rows ``0 .. y + h``): the ones before the box read only those
    unset pixels and are dropped; the box's own read only ``parts``, at the
    whole-frame resize's filter positions and with its border clamping
    (where ``parts`` reach the frame's end). Passes in PIL's order
    (:func:`pil_vertical_first` of the whole frame).
    """
    x, y, w, h = box
    ox, oy = origin
    if tuple(src_size) == tuple(size):
        return np.stack([part[y - oy : y - oy + h, x - ox : x - ox + w] for part in parts])
    clip = np.stack(parts) if not isinstance(parts, np.ndarray) else parts
    scale_x, scale_y = size[0] / src_size[0], size[1] / src_size[1]
    steps = [('x', ox, x, w, scale_x), ('y', oy, y, h, scale_y)]
    if pil_vertical_first(src_size, size):
        steps.reverse()
    for axis, start, first, length, scale in steps:
        clip = _anchored_pass(clip, axis, start, first, length, scale, interpolation)
    return clip


def _anchored_pass(
    clip: np.ndarray, axis: str, start: int, first: int, length: int, scale: float, mode: str
) -> np.ndarray:
    """One axis of :func:`resize_clip_region`: ``clip`` ``(N, h, w, 3)``
    holds frame pixels from ``start`` on along ``axis``; returns outputs
    ``first .. first + length`` of the whole-frame pass at ``scale``
    (output / input)."""
    n, h, w, _ = clip.shape
    along = 2 if axis == 'x' else 1
    shape = list(clip.shape)
    shape[along] += start
    buffer = np.empty(shape, np.uint8)
    if axis == 'x':
        buffer[:, :, start:] = clip
    else:
        buffer[:, start:] = clip
    # torch skips a pass whose output length equals its input's: ask for
    # one output more (it reads inside the buffer, and is dropped).
    count = first + length
    if count == shape[along]:
        count += 1
    out_size = [h, count] if axis == 'x' else [count, w]
    scales = (1.0, scale) if axis == 'x' else (scale, 1.0)
    out = _AA[mode](torch.from_numpy(buffer).permute(0, 3, 1, 2), out_size, False, *scales)
    out = out.permute(0, 2, 3, 1).numpy()
    return out[:, :, first : first + length] if axis == 'x' else out[:, first : first + length]


def _gather(frames: List[np.ndarray], inverse: np.ndarray) -> List[np.ndarray]:
    """``[frames[k] for k in inverse]``, a repeated frame as a copy."""
    seen, out = set(), []
    for k in inverse.tolist():
        out.append(frames[k].copy() if k in seen else frames[k])
        seen.add(k)
    return out


# torch's antialiased kernels, with explicit scales (output / input):
# ``(input, output_size, align_corners, scale_h, scale_w)``.
_AA = {
    'bilinear': torch._C._nn._upsample_bilinear2d_aa,
    'bicubic': torch._C._nn._upsample_bicubic2d_aa,
}


@functools.lru_cache(maxsize=None)
def _pillow_orders_passes() -> bool:
    """Whether the installed PIL picks its pass order by the sizes (Pillow
    13 does, see :func:`pil_vertical_first`; older versions always resize
    horizontally first). Probed once on a small noise image whose rule
    says vertical first, where the two orders differ at about a quarter
    of the values."""
    noise = np.random.RandomState(0).randint(0, 256, (48, 16, 3)).astype(np.uint8)
    want = torch.from_numpy(np.array(Image.fromarray(noise).resize((12, 12), Image.BICUBIC)))
    clip = torch.from_numpy(noise[None]).permute(0, 3, 1, 2)

    def passes(order):
        out = clip
        for size in order:
            out = F.interpolate(out, size=size, mode='bicubic', antialias=True)
        return (out[0].permute(1, 2, 0) != want).sum().item()

    return passes([(12, 16), (12, 12)]) < passes([(48, 12), (12, 12)])


def pil_vertical_first(src_size: Tuple[int, int], size: Tuple[int, int]) -> bool:
    """Whether PIL resizes ``src_size = (w, h)`` to ``size`` vertically
    first. Which pass comes first changes the rounding of the 8-bit
    intermediate (a quarter of the values by one level). Pillow 13
    (``ImagingResample``, python-pillow/Pillow#9549) goes vertical first
    when the height shrinks by more than twice as many pixels as the width
    does; older Pillow always goes horizontal first."""
    (src_w, src_h), (out_w, out_h) = src_size, size
    shrink = src_h - out_h
    return shrink > 0 and shrink > 2 * (src_w - out_w) and _pillow_orders_passes()


def resize_clip(frames: Sequence[np.ndarray], size: Tuple[int, int], interpolation: str):
    """All frames resized to ``size = (W, H)`` with PIL's pixels, the clip
    at once.

    torch's antialiased ``interpolate`` implements PIL's filters (bicubic
    ``a = -0.5``, support widened by the shrink factor, separable with an
    8-bit intermediate) at a fifth to an eighth of PIL's time; its weights
    have 14-15 fractional bits where PIL's have 22, so about 0.3 % of the
    values come out one level off per pass. One pass per call, in PIL's
    order (:func:`pil_vertical_first`). Frames already at ``size`` are
    returned as they are, as torchvision does. Returns a list of ``(H, W,
    3)`` views of one array.
    """
    height, width = frames[0].shape[:2]
    out_w, out_h = size
    if (width, height) == (out_w, out_h):
        return list(frames)
    # (N, H, W, 3) viewed as (N, 3, H, W) channels-last, contiguous: torch's
    # fast uint8 kernels (a view of a crop would take the slow path).
    clip = np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else np.stack(frames)
    out = torch.from_numpy(clip).permute(0, 3, 1, 2)
    steps = [(height, out_w), (out_h, out_w)]
    if pil_vertical_first((width, height), size):
        steps = [(out_h, width), (out_h, out_w)]
    for step in steps:
        if tuple(out.shape[2:]) != step:
            out = F.interpolate(out, size=step, mode=interpolation, antialias=True)
    return list(out.permute(0, 2, 3, 1).numpy())


@TRANSFORMS.register_module()
class PillowResize(BaseTransform):
    """Resize every frame with PIL's filters (antialiased when shrinking).

    Computed for the whole clip at once by :func:`resize_clip`.

    ``scale=(320, 256)`` is the authors' Something-Something
    ``GroupScale((256, 320))``; ``short_side=256`` their Kinetics
    ``Resize(256)`` (long side truncated as torchvision does). Frames
    already at the target size are left as they are, as torchvision does.

    Required keys: ``imgs``. Modified keys: ``imgs``, ``img_shape``.

    Args:
        scale: Exact output ``(w, h)``.
        short_side: Output short side, keeping the aspect ratio.
        interpolation: ``'bicubic'`` (the authors') or ``'bilinear'``.
    """

    def __init__(
        self,
        scale: Optional[Sequence[int]] = None,
        short_side: Optional[int] = None,
        interpolation: str = 'bicubic',
    ) -> None:
        _check_size_args('PillowResize', scale, short_side, required=True)
        self.scale = None if scale is None else tuple(int(s) for s in scale)
        self.short_side = short_side
        self.interpolation = interpolation
        _resample(interpolation, 'interpolation', 'PillowResize')  # validates

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        h, w = imgs[0].shape[:2]
        size = resized_size(w, h, self.scale, self.short_side)
        results['imgs'] = resize_clip(imgs, size, self.interpolation)
        results['img_shape'] = (size[1], size[0])
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(scale={self.scale}, short_side={self.short_side}, '
            f'interpolation={self.interpolation!r})'
        )


@TRANSFORMS.register_module()
class PillowRandomSizedCrop(BaseTransform):
    """The authors' ``GroupRandomSizedCrop``, optionally after their resize.

    With ``rand_augment``, RandAugment comes first. With ``scale`` or
    ``short_side`` the frames are then resized as by
    :class:`PillowResize` (``resize_interpolation``, bicubic); only the
    crop's pixels of that resize are computed, which gives the same pixels
    as resizing whole frames first. Then, one draw per clip: up to 10
    tries of an area ``U(area_range)`` of the frame and an aspect ratio
    ``U(aspect_ratio_range)`` (uniform, not log-uniform), sides
    ``round(sqrt(area * ratio))`` x ``round(sqrt(area / ratio))``, swapped
    with probability 0.5; the first box that fits is taken at a uniform
    position and resized to ``size`` x ``size`` with PIL
    (``interpolation``, bilinear). When no try fits, the short side is
    resized to ``size`` and a random square taken.

    Required keys: ``imgs``. Modified keys: ``imgs``, ``img_shape``. Added
    keys: ``crop_bbox`` (x1, y1, x2, y2 in the resized frame; for the
    fallback, in the frame after its short-side resize),
    ``sized_crop_fallback`` (bool).

    Args:
        size: Output side.
        scale: Resize first to exactly ``(w, h)``.
        short_side: Resize first so that the short side is this.
        area_range: Range of the crop's fraction of the frame area.
        aspect_ratio_range: Range of the crop's width / height (before the
            swap).
        interpolation: Resampling of the crop to ``size``.
        resize_interpolation: Resampling of the resize before the crop.
        rand_augment: Arguments of a :class:`ClipRandAugment` applied first,
            before the resize (the authors' order), to the source pixels the
            crop reads only: the same pixels as augmenting whole frames, at
            a fraction of the cost. Adds ``rand_augment_ops``.
    """

    def __init__(
        self,
        size: int = 224,
        scale: Optional[Sequence[int]] = None,
        short_side: Optional[int] = None,
        area_range: Tuple[float, float] = (0.08, 1.0),
        aspect_ratio_range: Tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = 'bilinear',
        resize_interpolation: str = 'bicubic',
        rand_augment: Optional[Dict] = None,
    ) -> None:
        owner = 'PillowRandomSizedCrop'
        _check_size_args(owner, scale, short_side, required=False)
        if not 0 < area_range[0] <= area_range[1] <= 1:
            raise ValueError(f'{owner}: area_range must lie in (0, 1], got {area_range}')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'{owner}: bad aspect_ratio_range {aspect_ratio_range}')
        self.size = int(size)
        self.scale = None if scale is None else tuple(int(s) for s in scale)
        self.short_side = short_side
        self.area_range = tuple(area_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)
        self.interpolation = interpolation
        self.resize_interpolation = resize_interpolation
        _resample(interpolation, 'interpolation', owner)  # validates
        _resample(resize_interpolation, 'resize_interpolation', owner)  # validates
        self.rand_augment = None
        if rand_augment is not None:
            from .augment import ClipRandAugment

            self.rand_augment = ClipRandAugment(**rand_augment)

    def draw_box(self, width: int, height: int) -> Optional[Tuple[int, int, int, int]]:
        """``(x, y, w, h)`` in a ``width`` x ``height`` frame, or None for
        the fallback."""
        area = width * height
        for _ in range(10):
            target = np.random.uniform(*self.area_range) * area
            ratio = np.random.uniform(*self.aspect_ratio_range)
            w = int(round(math.sqrt(target * ratio)))
            h = int(round(math.sqrt(target / ratio)))
            if np.random.rand() < 0.5:
                w, h = h, w
            if w <= width and h <= height:
                return (
                    np.random.randint(0, width - w + 1),
                    np.random.randint(0, height - h + 1),
                    w,
                    h,
                )
        return None

    def transform(self, results: Dict) -> Dict:
        imgs = list(results['imgs'])
        # Frames sampled twice (overlapping windows) are augmented once.
        inverse = None
        inds = results.get('frame_inds')
        if inds is not None and len(inds) == len(imgs):
            unique, first, inverse = np.unique(inds, return_index=True, return_inverse=True)
            if len(unique) < len(imgs):
                imgs = [imgs[k] for k in first]
            else:
                inverse = None
        src_h, src_w = imgs[0].shape[:2]
        src_size = (src_w, src_h)
        if self.scale is None and self.short_side is None:
            size = src_size
        else:
            size = resized_size(src_w, src_h, self.scale, self.short_side)
        plan = None
        if self.rand_augment is not None:
            plan = self.rand_augment._draw_plan()
            results['rand_augment_ops'] = plan
        box = self.draw_box(*size)
        results['sized_crop_fallback'] = box is None
        if box is not None:
            # Augment and resize only the source pixels the crop reads.
            x, y, w, h = box
            region = source_region(box, size, src_size)
            if plan:
                parts = self.rand_augment.apply_plan(imgs, plan, region)
            else:
                parts = [img[region[1] : region[3], region[0] : region[2]] for img in imgs]
            crops = resize_clip_region(
                parts, size, box, self.resize_interpolation, src_size, region[:2]
            )
        else:
            if plan:
                imgs = self.rand_augment.apply_plan(imgs, plan)
            imgs = resize_clip(imgs, size, self.resize_interpolation)
            small = resized_size(size[0], size[1], None, self.size)
            imgs = resize_clip(imgs, small, self.interpolation)
            x = np.random.randint(0, small[0] - self.size + 1)
            y = np.random.randint(0, small[1] - self.size + 1)
            w = h = self.size
            crops = [img[y : y + h, x : x + w] for img in imgs]
        imgs = resize_clip(crops, (self.size, self.size), self.interpolation)
        if inverse is not None:
            # Own arrays for repeats: Flip works in place.
            imgs = _gather(imgs, inverse.reshape(-1))
        results['imgs'] = imgs
        results['crop_bbox'] = np.array([x, y, x + w, y + h])
        results['img_shape'] = (self.size, self.size)
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, '
            f'short_side={self.short_side}, area_range={self.area_range}, '
            f'aspect_ratio_range={self.aspect_ratio_range}, '
            f'interpolation={self.interpolation!r}, '
            f'resize_interpolation={self.resize_interpolation!r}, '
            f'rand_augment={self.rand_augment!r})'
        )
