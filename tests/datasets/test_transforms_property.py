"""Property tests over random video lengths, frame sizes and parameters."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmaction_tdsclip.datasets.synthetic import index_pattern
from mmaction_tdsclip.datasets.transforms import SampleTDSFrames

init_default_scope('mmaction')

FLIP_MAP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}


@settings(max_examples=300, deadline=None)
@given(
    num_frames=st.integers(1, 400),
    num_segments=st.integers(1, 32),
    num_local_frames=st.sampled_from([1, 3, 5, 7]),
    num_clips=st.integers(1, 5),
    protocol=st.sampled_from(['sth', 'kinetics']),
    test_mode=st.booleans(),
    start_index=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**31 - 1),
)
def test_sampler_indices(
    num_frames, num_segments, num_local_frames, num_clips, protocol, test_mode, start_index, seed
):
    np.random.seed(seed)
    clips = num_clips if test_mode else 1
    res = SampleTDSFrames(num_segments, num_local_frames, clips, protocol, test_mode)(
        dict(total_frames=num_frames, start_index=start_index)
    )
    inds = res['frame_inds'] - start_index
    assert inds.shape == (clips * num_segments * num_local_frames,)
    assert inds.min() >= 0 and inds.max() <= num_frames - 1
    assert res['clip_len'] == num_segments * num_local_frames
    assert res['num_clips'] == clips and res['frame_interval'] == 1

    win = inds.reshape(clips, num_segments, num_local_frames)
    half = num_local_frames // 2
    centres = win[..., half]
    # Each window is its centre's neighbourhood clamped to the video.
    expected = np.clip(centres[..., None] + np.arange(-half, half + 1), 0, num_frames - 1)
    np.testing.assert_array_equal(win, expected)
    # Segments advance through the video.
    assert (np.diff(centres, axis=1) >= 0).all()
    if not test_mode and protocol == 'sth':
        if num_frames > num_segments:
            assert (np.diff(centres, axis=1) > 0).all()
        else:
            assert set(centres[0].tolist()) == set(range(num_frames))


def _train_pipeline(size, flip_map, with_rand_augment):
    augment = [dict(type='ClipRandAugment')] if with_rand_augment else []
    augment += [
        dict(type='Resize', scale=(size + 8, size + 4), keep_ratio=False),
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5, flip_label_map=flip_map),
        dict(type='ClipRandomGrayscale', prob=0.2),
    ]
    return Compose(
        [
            dict(type='RepeatAugment', num_repeats=2, transforms=augment),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs', meta_keys=('img_shape', 'flip')),
        ]
    )


@settings(max_examples=25, deadline=None)
@given(
    num_frames=st.integers(1, 60),
    num_segments=st.integers(1, 6),
    num_local_frames=st.sampled_from([1, 3, 5]),
    height=st.integers(16, 48),
    width=st.integers(16, 48),
    label=st.sampled_from([0, 86, 87, 93, 167, 173]),
    with_rand_augment=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_train_output_shapes_and_flip_labels(
    num_frames, num_segments, num_local_frames, height, width, label, with_rand_augment, seed
):
    np.random.seed(seed)
    res = SampleTDSFrames(num_segments, num_local_frames)(
        dict(total_frames=num_frames, start_index=0)
    )
    imgs = [index_pattern(int(i), height, width) for i in res['frame_inds']]
    res.update(
        imgs=imgs,
        label=label,
        modality='RGB',
        img_shape=(height, width),
        original_shape=(height, width),
    )
    size = 16
    out = _train_pipeline(size, FLIP_MAP, with_rand_augment)(res)
    clip_len = num_segments * num_local_frames
    assert tuple(out['inputs'].shape) == (2, 3, clip_len, size, size)
    labels = out['data_samples'].gt_label
    assert tuple(labels.shape) == (2,)
    # The label of a view is swapped exactly when that view was flipped.
    for view_label, flipped in zip(labels.tolist(), out['data_samples'].flip):
        assert view_label == (FLIP_MAP.get(label, label) if flipped else label)


@settings(max_examples=20, deadline=None)
@given(
    num_frames=st.integers(1, 60),
    num_segments=st.integers(1, 6),
    num_local_frames=st.sampled_from([1, 3, 5]),
    num_clips=st.integers(1, 4),
    height=st.integers(20, 60),
    width=st.integers(20, 60),
    protocol=st.sampled_from(['sth', 'kinetics']),
)
def test_multi_view_test_shapes(
    num_frames, num_segments, num_local_frames, num_clips, height, width, protocol
):
    res = SampleTDSFrames(num_segments, num_local_frames, num_clips, protocol, test_mode=True)(
        dict(total_frames=num_frames, start_index=0)
    )
    imgs = [index_pattern(int(i), height, width) for i in res['frame_inds']]
    res.update(
        imgs=imgs,
        label=3,
        modality='RGB',
        img_shape=(height, width),
        original_shape=(height, width),
    )
    size = 16
    out = Compose(
        [
            dict(type='Resize', scale=(-1, size + 4)),
            dict(type='LongSideThreeCrop', crop_size=size),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ]
    )(res)
    clip_len = num_segments * num_local_frames
    assert tuple(out['inputs'].shape) == (3 * num_clips, 3, clip_len, size, size)
    assert out['data_samples'].gt_label.tolist() == [3]
