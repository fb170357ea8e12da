"""Damaged files are bad samples (skipped and named once in training, a
``VideoDecodeError`` naming the file in test mode) in webm and mkv as in mp4:
truncated files, timestamp gaps, extreme frame shapes, files too large or
not regular; decoder libraries never print a file's contents."""

import os

import numpy as np
import pytest
from _video_fixtures import DAMAGED_CONTAINERS, make_damaged_videos, make_video_list
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmaction_tdsclip.datasets import (
    SKIPPED_DIR_ENV,
    VideoDecodeError,
    bad_samples,
    read_skip_events,
)
from mmaction_tdsclip.datasets.synthetic import frame_indices_of
from mmaction_tdsclip.datasets.transforms import loading

init_default_scope('mmaction')

BACKENDS = {
    'decord': ('TDSDecordInit', 'TDSDecordDecode'),
    'pyav': ('TDSPyAVInit', 'TDSPyAVDecode'),
}
#: Damaged file -> (words of the reason, the Init arguments that turn the
#: checks off, under which the file passes as a valid video; a gap also
#: stretches the duration beyond the frames held).
DAMAGE = {
    **{
        f'cut_{c}': ('but the file holds only', ('frame_count_tolerance',))
        for c in DAMAGED_CONTAINERS
    },
    **{
        f'gap_{c}': ('timestamps jump', ('max_timestamp_gap', 'frame_count_tolerance'))
        for c in DAMAGED_CONTAINERS
    },
    'wide': ('aspect ratio of 100.0', ('max_aspect_ratio',)),
}


@pytest.fixture(scope='module')
def damaged(tmp_path_factory):
    return make_damaged_videos(str(tmp_path_factory.mktemp('damaged')))


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('good'))
    make_video_list(root, [('good.mp4', 0)], num_frames=20, height=48, width=64)
    return os.path.join(root, 'videos', 'good.mp4')


@pytest.fixture
def skip_dir(tmp_path, monkeypatch):
    folder = str(tmp_path / 'skipped')
    monkeypatch.setenv(SKIPPED_DIR_ENV, folder)
    monkeypatch.setattr(bad_samples, '_warned_here', set())
    return folder


@pytest.fixture
def warnings_log(monkeypatch):
    messages = []
    monkeypatch.setattr(bad_samples, 'print_log', lambda msg, **kwargs: messages.append(msg))
    return messages


def pipeline(backend, test_mode, **init_kwargs):
    init, decode = BACKENDS[backend]
    return Compose(
        [
            TRANSFORMS.build(dict(type=init, test_mode=test_mode, **init_kwargs)),
            TRANSFORMS.build(
                dict(type='SampleTDSFrames', num_segments=4, num_local_frames=3, test_mode=True)
            ),
            TRANSFORMS.build(dict(type=decode, test_mode=test_mode)),
        ]
    )


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('kind', DAMAGE)
def test_damaged_video_is_a_bad_sample(damaged, kind, backend, skip_dir, warnings_log):
    words, switches = DAMAGE[kind]
    unchecked = {switch: None for switch in switches}
    path = damaged[kind]
    # The damage alone does not stop PyAV: without the check the file
    # passes as a valid (shorter, or stretched) video. (A cut mp4 fails
    # anyway: its last packet is incomplete.)
    if kind != 'cut_mp4':
        assert pipeline('pyav', True, **unchecked)(dict(filename=path, start_index=0))
    assert pipeline(backend, False)(dict(filename=path, start_index=0)) is None
    events, _ = read_skip_events(skip_dir, {})
    assert [e['file'] for e in events] == [path]
    assert words in events[0]['reason']
    assert len(warnings_log) == 1 and path in warnings_log[0]
    with pytest.raises(VideoDecodeError, match=words) as info:
        pipeline(backend, True)(dict(filename=path, start_index=0))
    assert path in str(info.value)


@pytest.mark.parametrize('backend', BACKENDS)
def test_max_pixels(good, backend):
    with pytest.raises(VideoDecodeError, match='more than max_pixels=1000'):
        pipeline(backend, True, max_pixels=1000)(dict(filename=good, start_index=0))
    assert pipeline(backend, True, max_pixels=None)(dict(filename=good, start_index=0))


class _NoReads:
    """A file client that fails the test if anything is read."""

    def __init__(self, *args, **kwargs):
        pass

    def get(self, filename):
        raise AssertionError(f'{filename} was read')


@pytest.mark.parametrize('backend', BACKENDS)
def test_refused_before_reading(tmp_path, good, backend, monkeypatch):
    monkeypatch.setattr(loading, 'FileClient', _NoReads)
    zero = str(tmp_path / 'zero.mp4')
    os.symlink('/dev/zero', zero)
    fifo = str(tmp_path / 'fifo.mp4')
    os.mkfifo(fifo)
    for path, words in (
        (zero, 'not a regular file (it resolves to /dev/zero)'),
        (fifo, 'not a regular file'),
        (str(tmp_path), 'not a regular file'),
    ):
        with pytest.raises(VideoDecodeError) as info:
            pipeline(backend, True, timeout=10)(dict(filename=path, start_index=0))
        assert words in str(info.value) and path in str(info.value)
    size = os.path.getsize(good)
    with pytest.raises(VideoDecodeError, match=f'{size} bytes, more than max_file_size=1000'):
        pipeline(backend, True, max_file_size=1000)(dict(filename=good, start_index=0))


@pytest.mark.parametrize('backend', BACKENDS)
def test_decoders_do_not_print_file_contents(tmp_path, backend, capfd, skip_dir, warnings_log):
    text = str(tmp_path / 'notes.mp4')
    with open(text, 'w') as f:
        f.write(''.join(f'PRIVATE line {i} of a text file\n' for i in range(100)))
    for _ in range(3):
        assert pipeline(backend, False)(dict(filename=text, start_index=0)) is None
    out, err = capfd.readouterr()
    assert 'PRIVATE' not in out + err
    assert len(warnings_log) == 1 and text in warnings_log[0]
    assert 'PRIVATE' not in warnings_log[0]


def test_decord_open_is_silenced(tmp_path, capfd):
    """decord itself quotes an in-memory file's bytes in its log line and
    error: both are kept out."""
    text = str(tmp_path / 'notes.mp4')
    with open(text, 'w') as f:
        f.write('PRIVATE contents\n' * 20)
    with pytest.raises(ValueError) as info:
        TRANSFORMS.build(dict(type='TDSDecordInit'))._get_video_reader(text)
    out, err = capfd.readouterr()
    assert 'PRIVATE' not in out + err + str(info.value)


@pytest.mark.parametrize('container', DAMAGED_CONTAINERS)
def test_late_start_is_not_truncation(damaged, container):
    """Matroska durations run from time 0: a video starting at 1 s is whole."""
    for backend in BACKENDS:
        results = pipeline(backend, True)(
            dict(filename=damaged[f'late_{container}'], start_index=0)
        )
        assert results['total_frames'] == 40
        np.testing.assert_array_equal(frame_indices_of(results['imgs']), results['frame_inds'])


def test_good_video_passes_every_check(good):
    results = pipeline('pyav', True)(dict(filename=good, start_index=0))
    assert results['total_frames'] == 20
    assert np.asarray(results['imgs']).shape[1:] == (48, 64, 3)
