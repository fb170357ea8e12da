"""Clip-consistent augmentation, repeated augmentation and the test crops."""

import random

import numpy as np
import pytest
from _video_fixtures import make_video_list
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmaction_tdsclip.datasets.synthetic import index_pattern
from mmaction_tdsclip.datasets.transforms import (
    ClipRandAugment,
    ClipRandomGrayscale,
    FullResThreeCrop,
    LongSideThreeCrop,
    PillowRandomSizedCrop,
    PillowResize,
    RepeatAugment,
    TDSDecordInit,
    TorchvisionCenterCrop,
)

init_default_scope('mmaction')


def clip_of(indices, height=48, width=64):
    return [index_pattern(i, height, width) for i in indices]


# ------------------------------------------------------------ RandAugment
def test_rand_augment_same_ops_on_every_frame():
    ra = ClipRandAugment('rand-m7-n4-mstd0.5-inc1')
    changed = 0
    for seed in range(20):
        np.random.seed(seed)
        frames = clip_of([5] * 6)
        out = ra(dict(imgs=[f.copy() for f in frames]))['imgs']
        assert all(o.shape == frames[0].shape for o in out)
        # Identical input frames stay identical: one plan for the clip.
        for o in out[1:]:
            np.testing.assert_array_equal(o, out[0])
        changed += not np.array_equal(out[0], frames[0])
    # ...and the plan does change the frames (the test would notice a
    # no-op): with 4 ops at p = 0.5 almost every seed alters something.
    assert changed >= 15


def test_rand_augment_per_frame_timm_would_differ():
    """Control: timm's per-image RandAugment on the same frames does not
    keep them identical, which is what ClipRandAugment fixes."""
    from PIL import Image
    from timm.data.auto_augment import rand_augment_transform

    ra = rand_augment_transform('rand-m7-n4-mstd0.5-inc1', {})
    random.seed(0)
    np.random.seed(0)
    frame = Image.fromarray(index_pattern(5, 48, 64))
    outs = [np.asarray(ra(frame)) for _ in range(6)]
    assert any(not np.array_equal(o, outs[0]) for o in outs[1:])


def test_rand_augment_plan_recorded_and_bounded():
    np.random.seed(1)
    res = ClipRandAugment('rand-m7-n4-mstd0.5-inc1')(dict(imgs=clip_of(range(4))))
    ops = res['rand_augment_ops']
    assert len(ops) <= 4
    assert all(0.0 <= magnitude <= 10.0 for _, magnitude, _ in ops)


def test_rand_augment_geometry_shared_by_different_frames():
    """Frames that differ get the same geometric warp: a pixel-wise
    function of (frame) applied with one plan commutes with picking a
    frame, so augmenting [a, b] equals augmenting [a] and [b] under the
    same random state."""
    ra = ClipRandAugment('rand-m7-n4-mstd0.5-inc1')
    for seed in range(10):
        np.random.seed(seed)
        random.seed(seed)
        both = ra(dict(imgs=clip_of([3, 9])))['imgs']
        np.random.seed(seed)
        random.seed(seed)
        first = ra(dict(imgs=clip_of([3])))['imgs']
        np.random.seed(seed)
        random.seed(seed)
        second = ra(dict(imgs=clip_of([9])))['imgs']
        np.testing.assert_array_equal(both[0], first[0])
        np.testing.assert_array_equal(both[1], second[0])


# --------------------------------------------------------------- grayscale
def test_grayscale_whole_clip_or_nothing():
    gray_count = 0
    np.random.seed(0)
    for _ in range(200):
        res = ClipRandomGrayscale(prob=0.2)(dict(imgs=clip_of([1, 2, 3])))
        is_gray = [
            bool((f[..., 0] == f[..., 1]).all() and (f[..., 1] == f[..., 2]).all())
            for f in res['imgs']
        ]
        assert all(is_gray) == res['grayscale']
        assert any(is_gray) == res['grayscale']
        gray_count += res['grayscale']
    assert 20 <= gray_count <= 60


def test_grayscale_uses_luma_weights():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 200
    res = ClipRandomGrayscale(prob=1.0)(dict(imgs=[img]))
    # 0.299 * 200 = 59.8
    assert int(res['imgs'][0][0, 0, 0]) == 60


def test_luma_equals_pil_for_every_colour():
    """``luma`` (OpenCV, single precision) is PIL's ``convert('L')`` for all
    2**24 RGB colours, and keeps the leading shape."""
    from PIL import Image

    from mmaction_tdsclip.datasets.transforms.augment import luma

    channels = np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing='ij')
    every = np.stack(channels, -1).reshape(4096, 4096, 3).astype(np.uint8)
    np.testing.assert_array_equal(luma(every), np.asarray(Image.fromarray(every).convert('L')))
    assert luma(every[:3, ::2].reshape(3, 8, 256, 3)).shape == (3, 8, 256)


# --------------------------------------------------------------- ThreeCrop
def test_three_crop_long_side_landscape():
    img = np.arange(256 * 320 * 3, dtype=np.int64).reshape(256, 320, 3)
    res = LongSideThreeCrop(224)(dict(imgs=[img, img + 1]))
    assert len(res['imgs']) == 6
    assert res['img_shape'] == (224, 224)
    # y centred at 16; x at 0, 48, 96 (left, centre, right), crop-major.
    for k, x in enumerate((0, 48, 96)):
        np.testing.assert_array_equal(res['imgs'][2 * k], img[16:240, x : x + 224])
        np.testing.assert_array_equal(res['imgs'][2 * k + 1], img[16:240, x : x + 224] + 1)
    assert res['crop_bbox'][::2].tolist() == [
        [0, 16, 224, 240],
        [48, 16, 272, 240],
        [96, 16, 320, 240],
    ]


def test_three_crop_long_side_portrait_and_square():
    img = np.random.RandomState(0).randint(0, 255, (300, 256, 3))
    res = LongSideThreeCrop(224)(dict(imgs=[img]))
    for k, y in enumerate((0, 38, 76)):
        np.testing.assert_array_equal(res['imgs'][k], img[y : y + 224, 16:240])
    square = LongSideThreeCrop(224)(dict(imgs=[img[:224, :224]]))
    assert all(np.array_equal(c, img[:224, :224]) for c in square['imgs'])
    with pytest.raises(ValueError):
        LongSideThreeCrop(224)(dict(imgs=[img[:200]]))


# ------------------------------------------------------ repeated augment
@pytest.fixture(scope='module')
def video(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ra'))
    make_video_list(root, [('a.mp4', 86)], num_frames=24, height=48, width=64)
    return f'{root}/videos/a.mp4'


def test_repeat_augment_decodes_once_and_returns_two_views(video, monkeypatch):
    calls = []
    original = TDSDecordInit._get_video_reader

    class CountingReader:
        """Forwards to decord's reader, recording each get_batch call."""

        def __init__(self, reader):
            self.reader = reader

        def __len__(self):
            return len(self.reader)

        def get_avg_fps(self):
            return self.reader.get_avg_fps()

        def get_batch(self, inds):
            calls.append(len(inds))
            return self.reader.get_batch(inds)

    monkeypatch.setattr(
        TDSDecordInit,
        '_get_video_reader',
        lambda self, filename: CountingReader(original(self, filename)),
    )
    pipe = Compose(
        [
            dict(type='TDSDecordInit'),
            dict(type='SampleTDSFrames', num_segments=4, num_local_frames=5),
            dict(type='TDSDecordDecode'),
            dict(
                type='RepeatAugment',
                num_repeats=2,
                transforms=[
                    dict(type='Resize', scale=(40, 32), keep_ratio=False),
                    dict(type='RandomResizedCrop'),
                    dict(type='Resize', scale=(32, 32), keep_ratio=False),
                    dict(type='Flip', flip_ratio=0.5, flip_label_map={86: 87, 87: 86}),
                ],
            ),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ]
    )
    np.random.seed(0)
    crops = set()
    for _ in range(6):
        calls.clear()
        out = pipe(dict(filename=video, label=86, start_index=0, modality='RGB'))
        assert len(calls) == 1  # one decode call per sample...
        assert calls[0] <= 20  # ...of the distinct frames only
        assert tuple(out['inputs'].shape) == (2, 3, 20, 32, 32)
        label = out['data_samples'].gt_label
        assert label.shape == (2,) and str(label.dtype) == 'torch.int64'
        crops.add(out['inputs'][0].sum().item() == out['inputs'][1].sum().item())
    # The views are augmented independently (not always equal).
    assert False in crops


def test_flip_swaps_label_exactly_when_it_flips():
    frames = clip_of(range(4), 32, 48)
    ra = RepeatAugment(
        num_repeats=2,
        transforms=[dict(type='Flip', flip_ratio=0.5, flip_label_map={86: 87, 87: 86})],
    )
    seen = set()
    np.random.seed(0)
    for _ in range(40):
        res = ra(
            dict(
                imgs=[f.copy() for f in frames],
                label=86,
                num_clips=1,
                modality='RGB',
                img_shape=(32, 48),
            )
        )
        assert res['label'].dtype == np.int64 and res['label'].shape == (2,)
        for view, (flipped, label) in enumerate(zip(res['flip'], res['label'])):
            assert label == (87 if flipped else 86)
            for j, f in enumerate(frames):
                got = res['imgs'][view * 4 + j]
                np.testing.assert_array_equal(got, f[:, ::-1] if flipped else f)
            seen.add(bool(flipped))
        # The source frames were not flipped in place.
        assert np.array_equal(frames[0], index_pattern(0, 32, 48))
    assert seen == {True, False}


def test_repeat_augment_flips_a_frame_listed_twice_once_per_view():
    """The last view works on the decoded frames themselves: a frame listed
    twice as one array must still come out flipped once in every entry."""
    frame = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    ra = RepeatAugment(num_repeats=2, transforms=[dict(type='Flip', flip_ratio=1.0)])
    shared = frame.copy()
    res = ra(dict(imgs=[shared, shared], num_clips=1, modality='RGB', img_shape=(32, 48)))
    assert len(res['imgs']) == 4
    for got in res['imgs']:
        np.testing.assert_array_equal(got, frame[:, ::-1])


def test_flip_keeps_unmapped_labels():
    ra = RepeatAugment(
        num_repeats=3,
        transforms=[dict(type='Flip', flip_ratio=1.0, flip_label_map={86: 87, 87: 86})],
    )
    res = ra(dict(imgs=clip_of([0]), label=5, num_clips=1, modality='RGB', img_shape=(48, 64)))
    assert res['label'].tolist() == [5, 5, 5]
    assert res['flip'] == [True, True, True]
    assert res['num_clips'] == 3


def test_repeat_augment_rejects_multi_crop():
    ra = RepeatAugment(transforms=[dict(type='LongSideThreeCrop', crop_size=32)])
    with pytest.raises(ValueError, match='frame count'):
        ra(dict(imgs=clip_of([0, 1]), num_clips=1, label=0))


def test_registered_names():
    for name in (
        'SampleTDSFrames',
        'TDSDecordInit',
        'TDSDecordDecode',
        'TDSPyAVInit',
        'TDSPyAVDecode',
        'TDSRawFrameDecode',
        'ClipRandAugment',
        'ClipRandomGrayscale',
        'LongSideThreeCrop',
        'FullResThreeCrop',
        'TorchvisionCenterCrop',
        'PillowResize',
        'PillowRandomSizedCrop',
        'RepeatAugment',
    ):
        assert TRANSFORMS.get(name) is not None, name


# ------------------------------------------------- the authors' geometry
def test_full_res_three_crop_offsets():
    """x = 0, 2q, 4q with q = (W - 224) // 4 and y = 2 ((H - 224) // 4),
    always along the width (also for portrait frames)."""
    for (w, h), xs, y in (
        ((320, 256), (0, 48, 96), 16),
        ((455, 256), (0, 114, 228), 16),  # LongSideThreeCrop: 0, 115, 231
        ((256, 341), (0, 16, 32), 58),  # portrait: still along the width
    ):
        frame = np.zeros((h, w, 3), np.uint8)
        res = FullResThreeCrop(224)(dict(imgs=[frame, frame]))
        assert len(res['imgs']) == 6
        assert all(img.shape == (224, 224, 3) for img in res['imgs'])
        assert [tuple(b) for b in res['crop_bbox'][::2]] == [(x, y, x + 224, y + 224) for x in xs]


def test_full_res_three_crop_rejects_small_frames():
    with pytest.raises(ValueError, match='resize them to at least 224'):
        FullResThreeCrop(224)(dict(imgs=[np.zeros((200, 300, 3), np.uint8)]))


def test_torchvision_centre_crop_rounds_half_to_even():
    # (455 - 224) / 2 = 115.5 -> 116 (stock CenterCrop: 115); (457 - 224) / 2 = 116.5 -> 116.
    for w, x in ((455, 116), (457, 116), (320, 48)):
        res = TorchvisionCenterCrop(224)(dict(imgs=[np.zeros((256, w, 3), np.uint8)]))
        assert tuple(res['crop_bbox']) == (x, 16, x + 224, 240)


def test_pillow_resize_sizes_and_filter():
    from PIL import Image

    frame = index_pattern(3, 360, 640)
    res = PillowResize(short_side=256)(dict(imgs=[frame]))
    # torchvision truncates the long side: int(256 * 640 / 360) = 455.
    assert res['imgs'][0].shape == (256, 455, 3) and res['img_shape'] == (256, 455)
    expected = np.asarray(Image.fromarray(frame).resize((455, 256), Image.BICUBIC))
    np.testing.assert_array_equal(res['imgs'][0], expected)
    res = PillowResize(scale=(320, 256))(dict(imgs=[frame[:240, :427]]))
    assert res['imgs'][0].shape == (256, 320, 3)
    same = PillowResize(short_side=360)(dict(imgs=[frame]))['imgs'][0]
    np.testing.assert_array_equal(same, frame)  # already that size: unchanged
    with pytest.raises(ValueError, match='not both'):
        PillowResize(scale=(320, 256), short_side=256)
    with pytest.raises(ValueError, match='interpolation'):
        PillowResize(short_side=256, interpolation='area')


def test_sized_crop_equals_resize_then_crop():
    """Resizing only the crop's pixels gives the pixels of a full resize."""
    from PIL import Image

    frames = [index_pattern(i, 240, 427) for i in range(3)]
    crop = PillowRandomSizedCrop(size=64, scale=(320, 256))
    for seed in range(5):
        np.random.seed(seed)
        res = crop(dict(imgs=list(frames)))
        x1, y1, x2, y2 = res['crop_bbox']
        for frame, got in zip(frames, res['imgs']):
            full = Image.fromarray(frame).resize((320, 256), Image.BICUBIC)
            want = full.crop((x1, y1, x2, y2)).resize((64, 64), Image.BILINEAR)
            assert np.abs(got.astype(int) - np.asarray(want)).max() <= 1


def test_sized_crop_augments_repeated_frames_once_and_returns_own_arrays():
    inds = np.array([0, 0, 1, 2, 2, 2, 3])
    frames = [index_pattern(int(i), 60, 80) for i in inds]
    crop = PillowRandomSizedCrop(size=32, scale=(40, 30), rand_augment=dict())
    np.random.seed(3)
    res = crop(dict(imgs=[f.copy() for f in frames], frame_inds=inds))
    np.random.seed(3)
    plain = crop(dict(imgs=[f.copy() for f in frames]))  # no frame_inds: every frame
    assert res['rand_augment_ops'] == plain['rand_augment_ops']
    for got, want in zip(res['imgs'], plain['imgs']):
        np.testing.assert_array_equal(got, want)
    # Repeats are separate arrays, so an in-place Flip reaches each once.
    assert not np.shares_memory(res['imgs'][0], res['imgs'][1])
    assert not np.shares_memory(res['imgs'][3], res['imgs'][5])
