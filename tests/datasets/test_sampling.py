"""SampleTDSFrames against hand-computed indices (docs/model.md section 1).

Every expected array below was worked out by hand from the formulas of docs/model.md
(numpy's round-half-to-even, int truncation), not by running the sampler.
"""

import numpy as np
import pytest

from mmaction_tdsclip.datasets import VideoDecodeError
from mmaction_tdsclip.datasets.transforms import SampleTDSFrames


def sample(num_frames, start_index=0, **kwargs):
    results = SampleTDSFrames(**kwargs)(
        dict(total_frames=num_frames, start_index=start_index, filename='v.mp4')
    )
    return results


def windows(results):
    return results['frame_inds'].reshape(
        results['num_clips'], results['num_segments'], results['num_local_frames']
    )


def fake_randint(pick):
    """Stand-in for np.random.randint returning the lowest or highest
    allowed value, to check the random ranges exactly."""

    def randint(low, high=None, size=None):
        if high is None:
            low, high = 0, low
        low, high = np.asarray(low), np.asarray(high)
        value = low if pick == 'low' else high - 1
        shape = size if size is not None else np.broadcast(low, high).shape
        return np.broadcast_to(value, shape).astype(np.int64)

    return randint


# ----------------------------------------------------------------- sth val
def test_sth_val_round_half_to_even():
    # L=50, T=8: seg = 49/8 = 6.125, int(seg/2) = 3;
    # round(6.125 k) = 0 6 12 18 24(24.5 -> even) 31 37 43.
    res = sample(50, num_segments=8, num_local_frames=1, test_mode=True, protocol='sth')
    np.testing.assert_array_equal(res['frame_inds'], [3, 9, 15, 21, 27, 34, 40, 46])
    assert res['clip_len'] == 8 and res['num_clips'] == 1
    assert res['frame_interval'] == 1


def test_sth_val_windows_clamped_at_both_ends():
    # L=10, T=8: seg = 1.125, int(seg/2) = 0;
    # round(1.125 k) = 0 1 2 3 4(4.5) 6(5.625) 7(6.75) 8(7.875).
    res = sample(10, num_segments=8, num_local_frames=5, test_mode=True, protocol='sth')
    expected = [
        [0, 0, 0, 1, 2],  # -2 -1 0 1 2
        [0, 0, 1, 2, 3],  # -1 0 1 2 3
        [0, 1, 2, 3, 4],
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5, 6],
        [4, 5, 6, 7, 8],
        [5, 6, 7, 8, 9],
        [6, 7, 8, 9, 9],  # 6 7 8 9 10
    ]
    np.testing.assert_array_equal(windows(res)[0], expected)
    assert res['clip_len'] == 40
    assert res['frame_inds'].dtype == np.int32


def test_sth_val_video_shorter_than_t():
    # L=3, T=8: seg = 0.25; round(0.25 k) = 0 0 0(.5) 1 1 1 2(1.5) 2.
    res = sample(3, num_segments=8, num_local_frames=3, test_mode=True, protocol='sth')
    expected = [[0, 0, 1]] * 3 + [[0, 1, 2]] * 3 + [[1, 2, 2]] * 2
    np.testing.assert_array_equal(windows(res)[0], expected)


def test_single_frame_video():
    res = sample(1, num_segments=4, num_local_frames=5, test_mode=True, protocol='kinetics')
    np.testing.assert_array_equal(res['frame_inds'], np.zeros(20))


# ---------------------------------------------------------------- sth test
def test_sth_test_two_clips_clip_major():
    # L=50, T=8, C=2: seg = 6.125, dur = seg/3 = 2.0417;
    # shifts int(dur) = 2, int(2 dur) = 4.
    res = sample(
        50, num_segments=8, num_local_frames=3, num_clips=2, test_mode=True, protocol='sth'
    )
    clip0 = [2, 8, 14, 20, 26, 33, 39, 45]
    clip1 = [4, 10, 16, 22, 28, 35, 41, 47]
    expected = [[[o - 1, o, o + 1] for o in clip0], [[o - 1, o, o + 1] for o in clip1]]
    np.testing.assert_array_equal(windows(res), expected)
    # Flat layout: clip-major, then segment, then local frame.
    assert res['frame_inds'][:3].tolist() == [1, 2, 3]
    assert res['frame_inds'][24:27].tolist() == [3, 4, 5]
    assert res['num_clips'] == 2 and res['clip_len'] == 24


def test_sth_test_one_clip_equals_val():
    val = sample(77, num_segments=8, test_mode=True, protocol='sth')
    one = sample(77, num_segments=8, num_clips=1, test_mode=True, protocol='sth')
    np.testing.assert_array_equal(val['frame_inds'], one['frame_inds'])


# --------------------------------------------------------------- sth train
def test_sth_train_tsn_segment_ranges(monkeypatch):
    # L=50, T=8: ticks = k*50//8 = 0 6 12 18 25 31 37 43 50.
    monkeypatch.setattr(np.random, 'randint', fake_randint('low'))
    low = sample(50, num_segments=8, num_local_frames=1, protocol='sth')
    np.testing.assert_array_equal(low['frame_inds'], [0, 6, 12, 18, 25, 31, 37, 43])
    monkeypatch.setattr(np.random, 'randint', fake_randint('high'))
    high = sample(50, num_segments=8, num_local_frames=1, protocol='sth')
    np.testing.assert_array_equal(high['frame_inds'], [5, 11, 17, 24, 30, 36, 42, 49])


def test_sth_train_random_offsets_stay_in_segments():
    ticks = [0, 6, 12, 18, 25, 31, 37, 43, 50]
    seen = set()
    np.random.seed(0)
    for _ in range(300):
        offsets = sample(50, num_segments=8, num_local_frames=1, protocol='sth')['frame_inds']
        for k, o in enumerate(offsets):
            assert ticks[k] <= o < ticks[k + 1]
        seen.update(int(o) for o in offsets)
    assert seen == set(range(50))


def test_sth_train_short_video_keeps_every_frame(monkeypatch):
    # L=3 <= T=5: 0 1 2 plus two random offsets, sorted.
    monkeypatch.setattr(np.random, 'randint', fake_randint('high'))
    res = sample(3, num_segments=5, num_local_frames=3, protocol='sth')
    expected = [[0, 0, 1], [0, 1, 2], [1, 2, 2], [1, 2, 2], [1, 2, 2]]
    np.testing.assert_array_equal(windows(res)[0], expected)
    np.random.seed(3)
    for _ in range(50):
        offsets = sample(3, num_segments=5, num_local_frames=1, protocol='sth')['frame_inds']
        assert set(offsets.tolist()) == {0, 1, 2}
        assert offsets.tolist() == sorted(offsets.tolist())


def test_sth_train_exactly_t_frames():
    res = sample(8, num_segments=8, num_local_frames=1, protocol='sth')
    np.testing.assert_array_equal(res['frame_inds'], np.arange(8))


# ----------------------------------------------------------------- kinetics
def test_kinetics_train_inclusive_ranges(monkeypatch):
    # L=50, T=8: seg = 6.125; round(seg k), k=0..8 =
    # 0 6 12 18 24 31 37 43 49 (24.5 -> 24).
    monkeypatch.setattr(np.random, 'randint', fake_randint('low'))
    low = sample(50, num_segments=8, num_local_frames=1, protocol='kinetics')
    np.testing.assert_array_equal(low['frame_inds'], [0, 6, 12, 18, 24, 31, 37, 43])
    monkeypatch.setattr(np.random, 'randint', fake_randint('high'))
    high = sample(50, num_segments=8, num_local_frames=1, protocol='kinetics')
    # Upper ends included.
    np.testing.assert_array_equal(high['frame_inds'], [6, 12, 18, 24, 31, 37, 43, 49])


def test_kinetics_val():
    # int(50/8 k) = int(6.25 k) = 0 6 12 18 25 31 37 43.
    res = sample(50, num_segments=8, num_local_frames=1, test_mode=True, protocol='kinetics')
    np.testing.assert_array_equal(res['frame_inds'], [0, 6, 12, 18, 25, 31, 37, 43])


def test_kinetics_test_four_clips():
    # tick = 6.25; starts = int(linspace(0, 5.25, 4)) = 0 1 3 5.
    res = sample(
        50, num_segments=8, num_local_frames=1, num_clips=4, test_mode=True, protocol='kinetics'
    )
    expected = [
        [0, 6, 12, 18, 25, 31, 37, 43],
        [1, 7, 13, 19, 26, 32, 38, 44],
        [3, 9, 15, 21, 28, 34, 40, 46],
        [5, 11, 17, 23, 30, 36, 42, 48],
    ]
    np.testing.assert_array_equal(windows(res)[..., 0], expected)


def test_kinetics_test_short_video_with_windows():
    # L=5, T=8, C=2: tick = 0.625, starts = int(linspace(0, -0.375)) = 0 0;
    # int(0.625 k) = 0 0 1 1 2 3 3 4.
    res = sample(
        5, num_segments=8, num_local_frames=3, num_clips=2, test_mode=True, protocol='kinetics'
    )
    one = [[0, 0, 1], [0, 0, 1], [0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [2, 3, 4], [3, 4, 4]]
    np.testing.assert_array_equal(windows(res), [one, one])


# -------------------------------------------------------------- misc rules
def test_start_index_shifts_everything():
    res = sample(
        10, start_index=1, num_segments=8, num_local_frames=5, test_mode=True, protocol='sth'
    )
    assert res['frame_inds'][:5].tolist() == [1, 1, 1, 2, 3]
    assert res['frame_inds'][-5:].tolist() == [7, 8, 9, 10, 10]


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(num_local_frames=4),
        dict(num_local_frames=0),
        dict(num_segments=0),
        dict(num_clips=2, test_mode=False),
        dict(protocol='ucf'),
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        SampleTDSFrames(**kwargs)


def test_empty_video_skipped_in_training_and_named_in_test():
    assert SampleTDSFrames()(dict(total_frames=0, start_index=0, filename='empty.mp4')) is None
    with pytest.raises(VideoDecodeError, match='empty.mp4'):
        SampleTDSFrames(test_mode=True)(dict(total_frames=0, start_index=0, filename='empty.mp4'))
