"""Repeated augmentation: one decoded clip, several independent views."""

import copy
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

# Per-view decisions kept as lists after merging, for inspection and tests.
_PER_VIEW_KEYS = ('flip', 'grayscale', 'crop_bbox', 'rand_augment_ops', 'sized_crop_fallback')


@TRANSFORMS.register_module()
class RepeatAugment(BaseTransform):
    """Apply ``transforms`` ``num_repeats`` times to the same decoded clip.

    Placed after decoding and before ``FormatShape``: the video is read
    once, then each repeat gets its own copy of the frames and runs the
    augmentation chain with fresh randomness. The views are concatenated so
    that ``FormatShape('NCTHW')`` yields ``(num_repeats * num_clips, C, T*n,
    H, W)`` (repeat-major), and ``label`` becomes an int64 array of shape
    ``(num_repeats,)`` holding each view's label (they differ where a
    ``Flip`` with ``flip_label_map`` swapped left and right in one view).

    Required keys: ``imgs``, ``num_clips``, ``label`` (optional).
    Modified keys: ``imgs``, ``num_clips``, ``label``, ``img_shape``.
    Added keys: those of the wrapped transforms; ``flip``, ``grayscale``,
    ``crop_bbox`` and ``rand_augment_ops`` become per-view lists.

    Args:
        transforms: Augmentation transforms (configs or callables); they
            must not change the number of frames (no multi-crop).
        num_repeats: Number of independently augmented views.
    """

    def __init__(self, transforms: Sequence[Union[Dict, Callable]], num_repeats: int = 2) -> None:
        if num_repeats < 1:
            raise ValueError(f'num_repeats must be >= 1, got {num_repeats}')
        self.transforms: List[Callable] = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms
        ]
        self.num_repeats = num_repeats

    def _one_view(self, results: Dict, last: bool) -> Optional[Dict]:
        view = {
            key: value if key == 'imgs' else copy.deepcopy(value) for key, value in results.items()
        }
        # Own arrays: some transforms (Flip) work in place. The last view runs
        # after the others and takes the decoded frames themselves (a frame
        # listed twice as one array is copied, so that it is not flipped twice).
        if last:
            seen: set = set()
            view['imgs'] = []
            for img in results['imgs']:
                view['imgs'].append(img.copy() if id(img) in seen else img)
                seen.add(id(img))
        else:
            view['imgs'] = [img.copy() for img in results['imgs']]
        for t in self.transforms:
            view = t(view)
            if view is None:
                return None
        return view

    def transform(self, results: Dict) -> Optional[Dict]:
        num_frames = len(results['imgs'])
        views = []
        for k in range(self.num_repeats):
            view = self._one_view(results, last=k == self.num_repeats - 1)
            if view is None:
                return None
            if len(view['imgs']) != num_frames:
                raise ValueError(
                    f'{self.__class__.__name__} expects its transforms to '
                    f'keep the frame count ({num_frames}), got '
                    f'{len(view["imgs"])}'
                )
            views.append(view)
        shapes = {view['imgs'][0].shape for view in views}
        if len(shapes) != 1:
            raise ValueError(
                f'views end with different shapes {shapes}; '
                'finish the chain with a fixed-size resize/crop'
            )
        merged = views[0]
        merged['imgs'] = [img for view in views for img in view['imgs']]
        merged['num_clips'] = results['num_clips'] * self.num_repeats
        if 'label' in results:
            merged['label'] = np.array([int(view['label']) for view in views], dtype=np.int64)
        for key in _PER_VIEW_KEYS:
            if all(key in view for view in views):
                merged[key] = [view[key] for view in views]
        return merged

    def __repr__(self) -> str:
        inner = ', '.join(repr(t) for t in self.transforms)
        return f'{self.__class__.__name__}(num_repeats={self.num_repeats}, transforms=[{inner}])'
