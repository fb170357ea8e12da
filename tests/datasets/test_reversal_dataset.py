"""Tests of the time-reversal pair dataset generator
(``tools/data/make_reversal_dataset.py``)."""

import filecmp
import glob
import os
import os.path as osp
import sys

import av
import decord
import numpy as np
import pytest

# A plain import (not a second module object under the same name), so that
# the generator's worker processes unpickle jobs of the module that made them
# even when tools/main_job.py imported it first.
sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools', 'data')
)
import make_reversal_dataset as mrd  # noqa: E402

NUM_VIDEOS = 2 * len(mrd.PAIRS) * 3  # three sequences per motion kind
FRAMES = 10
SIZE = 32


def _read_split(root, split):
    with open(osp.join(root, f'{split}.txt')) as f:
        return [(line.split()[0], int(line.split()[1])) for line in f]


def _decode_decord(path):
    vr = decord.VideoReader(path)
    return vr.get_batch(list(range(len(vr)))).asnumpy()


def _decode_pyav(path):
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format='rgb24') for f in container.decode(video=0)])


def _twins(root):
    """Yield (forward path, reversed path) of every sequence, all splits."""
    for split in mrd.SPLITS:
        records = _read_split(root, split)
        by_label = {}
        for rel, label in records:
            seq = int(osp.basename(rel).split('_')[0]) // 2
            by_label.setdefault(seq, {})[label] = rel
        for seq, clips in sorted(by_label.items()):
            assert len(clips) == 2, f'sequence {seq} lacks its twin'
            (la, ra), (lb, rb) = sorted(clips.items())
            assert lb == mrd.twin_label(la) and la % 2 == 0
            yield osp.join(root, ra), osp.join(root, rb)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('reversal'))
    mrd.make_dataset(root, NUM_VIDEOS, seed=3, num_frames=FRAMES, size=SIZE, workers=1)
    return root


def test_annotations(dataset):
    with open(osp.join(dataset, 'classes.txt')) as f:
        classes = f.read().split()
    assert classes == list(mrd.CLASSES)
    assert len(classes) == 2 * len(mrd.PAIRS)
    total = 0
    for split in mrd.SPLITS:
        records = _read_split(dataset, split)
        total += len(records)
        labels = sorted(label for _, label in records)
        # With three sequences per kind, every split holds every class once.
        assert labels == list(range(len(classes)))
        for rel, label in records:
            assert rel.startswith(f'videos/{split}/')
            assert rel.endswith(f'_{classes[label]}.mp4')
            assert osp.isfile(osp.join(dataset, rel))
    assert total == NUM_VIDEOS


def test_twin_labels():
    assert [mrd.twin_label(i) for i in range(4)] == [1, 0, 3, 2]
    for a, b in mrd.PAIRS:
        ia, ib = mrd.CLASSES.index(a), mrd.CLASSES.index(b)
        assert mrd.twin_label(ia) == ib


def test_pairs_decode_to_exact_reversals(dataset):
    """STACK trap 1: a pair's decoded frames are exact reversals, with both
    decoders MMAction2 uses."""
    pairs = list(_twins(dataset))
    assert len(pairs) == NUM_VIDEOS // 2
    for fwd, rev in pairs:
        a, b = _decode_decord(fwd), _decode_decord(rev)
        assert a.shape == (FRAMES, SIZE, SIZE, 3)
        # The clip changes over time, so the reversal check has teeth.
        assert not np.array_equal(a[0], a[-1])
        assert not np.array_equal(a, b)
        np.testing.assert_array_equal(a, b[::-1])
        pa, pb = _decode_pyav(fwd), _decode_pyav(rev)
        np.testing.assert_array_equal(pa, pb[::-1])
        np.testing.assert_array_equal(pa, a)


def test_frame_count_in_header(dataset):
    """MMAction2's PyAVInit reads the frame count from the header."""
    fwd, _ = next(_twins(dataset))
    with av.open(fwd) as container:
        assert container.streams.video[0].frames == FRAMES
    assert len(decord.VideoReader(fwd)) == FRAMES


def test_object_is_large(dataset):
    """STACK trap 3: the moving object changes a sizeable part of the frame
    between the first and the last frame of every motion kind."""
    for fwd, _ in _twins(dataset):
        a = _decode_decord(fwd).astype(np.int16)
        changed = (np.abs(a[-1] - a[0]).max(-1) > 40).mean()
        assert changed > 0.05, (fwd, changed)


def test_reproducible(dataset, tmp_path):
    again = str(tmp_path / 'again')
    mrd.make_dataset(again, NUM_VIDEOS, seed=3, num_frames=FRAMES, size=SIZE, workers=2)
    for split in mrd.SPLITS:
        assert _read_split(again, split) == _read_split(dataset, split)
        for rel, _ in _read_split(dataset, split):
            assert filecmp.cmp(osp.join(dataset, rel), osp.join(again, rel), shallow=False)
    other = str(tmp_path / 'other')
    mrd.make_dataset(other, NUM_VIDEOS, seed=4, num_frames=FRAMES, size=SIZE, workers=1)
    # Another seed renders another first clip (its split may differ too).
    first = [
        glob.glob(osp.join(root, 'videos', '*', '00000_*.mp4'))[0] for root in (dataset, other)
    ]
    assert not filecmp.cmp(*first, shallow=False)


def test_dataset_matches(dataset, tmp_path):
    assert mrd.dataset_matches(dataset, NUM_VIDEOS, 3, FRAMES, SIZE)
    assert not mrd.dataset_matches(dataset, NUM_VIDEOS, 4, FRAMES, SIZE)
    assert not mrd.dataset_matches(dataset, NUM_VIDEOS + 2, 3, FRAMES, SIZE)
    assert not mrd.dataset_matches(str(tmp_path), NUM_VIDEOS, 3, FRAMES, SIZE)


def test_mmaction_video_dataset_reads_it(dataset):
    from mmaction.datasets import VideoDataset
    from mmengine.registry import init_default_scope

    init_default_scope('mmaction')
    ds = VideoDataset(
        ann_file=osp.join(dataset, 'test.txt'),
        data_prefix=dict(video=dataset),
        pipeline=[
            dict(type='DecordInit'),
            dict(type='SampleFrames', clip_len=4, frame_interval=1, num_clips=1, test_mode=True),
            dict(type='DecordDecode'),
        ],
        test_mode=True,
    )
    assert len(ds) == len(mrd.CLASSES)
    item = ds[0]
    assert len(item['imgs']) == 4
    assert item['imgs'][0].shape == (SIZE, SIZE, 3)
    assert os.path.samefile(item['filename'], osp.join(dataset, _read_split(dataset, 'test')[0][0]))


def test_cli(tmp_path):
    out = str(tmp_path / 'cli')
    mrd.main(
        [out, '--num-videos', '4', '--frames', '6', '--size', '32', '--seed', '1', '--workers', '1']
    )
    assert mrd.dataset_matches(out, 4, 1, 6, 32)
    assert sum(len(_read_split(out, s)) for s in mrd.SPLITS) == 4
