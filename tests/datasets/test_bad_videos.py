"""Bad videos: skipped in training, named in testing, counted per epoch."""

import glob
import os
import os.path as osp
import shutil
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from _video_fixtures import make_broken_videos, make_rawframe_list, make_video_list
from mmaction.datasets import RawframeDataset, VideoDataset
from mmaction.registry import HOOKS, TRANSFORMS
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmaction_tdsclip.datasets import (
    SKIPPED_DIR_ENV,
    VideoDecodeError,
    bad_samples,
    read_skip_events,
)
from mmaction_tdsclip.datasets.synthetic import frame_indices_of
from mmaction_tdsclip.datasets.transforms import TDSDecordDecode, TDSPyAVDecode
from mmaction_tdsclip.datasets.transforms.loading import PyAVVideo

init_default_scope('mmaction')

BACKENDS = [('TDSDecordInit', 'TDSDecordDecode'), ('TDSPyAVInit', 'TDSPyAVDecode')]
BROKEN = ['zero', 'random', 'truncated', 'truncated_faststart', 'tiny', 'missing']


@pytest.fixture(scope='session')
def zoo(tmp_path_factory):
    return make_broken_videos(str(tmp_path_factory.mktemp('zoo')))


@pytest.fixture
def skip_dir(tmp_path, monkeypatch):
    """Route skip records to a fresh folder and forget earlier warnings."""
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
    init, decode = backend
    return Compose(
        [
            TRANSFORMS.build(dict(type=init, test_mode=test_mode, **init_kwargs)),
            TRANSFORMS.build(
                dict(
                    type='SampleTDSFrames', num_segments=4, num_local_frames=5, test_mode=test_mode
                )
            ),
            TRANSFORMS.build(dict(type=decode, test_mode=test_mode)),
        ]
    )


@pytest.mark.parametrize('backend', BACKENDS, ids=['decord', 'pyav'])
@pytest.mark.parametrize('kind', BROKEN)
def test_broken_video_skipped_in_training(zoo, backend, kind, skip_dir, warnings_log):
    assert pipeline(backend, False)(dict(filename=zoo[kind], start_index=0)) is None
    events, _ = read_skip_events(skip_dir, {})
    assert [e['file'] for e in events] == [zoo[kind]]
    assert len(warnings_log) == 1 and zoo[kind] in warnings_log[0]


@pytest.mark.parametrize('backend', BACKENDS, ids=['decord', 'pyav'])
@pytest.mark.parametrize('kind', BROKEN)
def test_broken_video_raises_in_test_mode(zoo, backend, kind):
    with pytest.raises(VideoDecodeError) as info:
        pipeline(backend, True)(dict(filename=zoo[kind], start_index=0))
    assert zoo[kind] in str(info.value)


@pytest.mark.parametrize('backend', BACKENDS, ids=['decord', 'pyav'])
def test_two_frame_video_is_clamped(zoo, backend):
    res = pipeline(backend, True)(dict(filename=zoo['two_frames'], start_index=0))
    assert res['total_frames'] == 2
    assert set(res['frame_inds'].tolist()) == {0, 1}
    np.testing.assert_array_equal(frame_indices_of(res['imgs']), res['frame_inds'])


@pytest.mark.parametrize('backend', BACKENDS, ids=['decord', 'pyav'])
def test_too_short_video_skipped_or_named(zoo, backend, skip_dir, warnings_log):
    args = dict(filename=zoo['two_frames'], start_index=0)
    assert pipeline(backend, False, min_frames=3)(dict(args)) is None
    assert '2 frames' in read_skip_events(skip_dir, {})[0][0]['reason']
    with pytest.raises(VideoDecodeError, match='two.mp4'):
        pipeline(backend, True, min_frames=3)(dict(args))


@pytest.mark.parametrize('backend', BACKENDS, ids=['decord', 'pyav'])
def test_odd_sized_video_decodes(zoo, backend):
    res = pipeline(backend, True)(dict(filename=zoo['odd'], start_index=0))
    assert res['img_shape'] == (45, 61)
    assert res['imgs'][0].shape == (45, 61, 3)


def test_warned_once_per_file(zoo, skip_dir, warnings_log):
    pipe = pipeline(BACKENDS[0], False)
    for _ in range(3):
        for kind in ('zero', 'random'):
            assert pipe(dict(filename=zoo[kind], start_index=0)) is None
    assert len(warnings_log) == 2
    events, _ = read_skip_events(skip_dir, {})
    assert len(events) == 6


def test_warned_once_across_processes(zoo, skip_dir, warnings_log):
    # Another worker already reported the file: its marker exists.
    bad_samples.record_skipped_sample(zoo['zero'], 'first')
    bad_samples._warned_here.clear()
    bad_samples.record_skipped_sample(zoo['zero'], 'again')
    assert len(warnings_log) == 1
    assert len(read_skip_events(skip_dir, {})[0]) == 2


class _SlowReader:
    """A decord-like reader that hangs on decoding."""

    def __len__(self):
        return 40

    def get_batch(self, inds):
        time.sleep(3)
        return types.SimpleNamespace(asnumpy=lambda: np.zeros((len(inds), 32, 32, 3), np.uint8))


class _SlowVideo(PyAVVideo):
    """A PyAVVideo whose decoder hangs."""

    def __init__(self):
        self.num_frames = 40

    def decode(self, unique, skip_unneeded=True):
        time.sleep(3)
        return []

    def close(self):
        pass


@pytest.mark.parametrize(
    'decode_cls, reader', [(TDSDecordDecode, _SlowReader), (TDSPyAVDecode, _SlowVideo)]
)
def test_hanging_decoder_times_out(decode_cls, reader, skip_dir, warnings_log):
    results = dict(
        filename='hang.mp4', video_reader=reader(), frame_inds=np.arange(10), total_frames=40
    )
    assert decode_cls(timeout=0.2)(dict(results)) is None
    events, _ = read_skip_events(skip_dir, {})
    assert 'DecodeTimeoutError' in events[0]['reason']
    with pytest.raises(VideoDecodeError, match='hang.mp4'):
        decode_cls(timeout=0.2, test_mode=True)(dict(results, video_reader=reader()))


def test_decodes_each_distinct_frame_once():
    calls = []

    def frame(i):
        # Left-right asymmetric, so a flip shows.
        return (np.arange(16, dtype=np.uint8)[None, :, None] * 2 + i).repeat(16, 0).repeat(3, 2)

    class Reader:
        def __len__(self):
            return 10

        def get_batch(self, inds):
            calls.append(list(inds))
            frames = np.stack([frame(i) for i in inds])
            return types.SimpleNamespace(asnumpy=lambda: frames)

    inds = np.array([0, 0, 0, 1, 2, 0, 0, 1, 2, 3, 7, 8, 9, 9, 9])
    res = TDSDecordDecode()(dict(filename='x.mp4', video_reader=Reader(), frame_inds=inds))
    assert calls == [[0, 1, 2, 3, 7, 8, 9]]
    assert [int(img[0, 0, 0]) for img in res['imgs']] == inds.tolist()
    # Every entry is its own frame: an in-place flip (as Flip does) of each
    # entry flips each exactly once.
    for img in res['imgs']:
        img[:] = img[:, ::-1].copy()
    for img, i in zip(res['imgs'], inds):
        np.testing.assert_array_equal(img, frame(i)[:, ::-1])


# ----------------------------------------------------------- raw frames
@pytest.fixture(scope='session')
def frame_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('frames'))
    make_rawframe_list(root, [('good', 0), ('missing_tail', 1), ('corrupt', 2)], num_frames=12)
    # Folder holds fewer frames than listed.
    for i in (10, 11, 12):
        os.remove(osp.join(root, 'frames', 'missing_tail', f'{i:05}.jpg'))
    with open(osp.join(root, 'frames', 'corrupt', '00006.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    return root


def rawframe_pipeline(test_mode):
    return Compose(
        [
            TRANSFORMS.build(
                dict(
                    type='SampleTDSFrames', num_segments=4, num_local_frames=5, test_mode=test_mode
                )
            ),
            TRANSFORMS.build(dict(type='TDSRawFrameDecode', test_mode=test_mode)),
        ]
    )


def rawframe_info(frame_root, name):
    return dict(
        frame_dir=osp.join(frame_root, 'frames', name),
        total_frames=12,
        start_index=1,
        filename_tmpl='{:05}.jpg',
        modality='RGB',
        label=0,
    )


def test_rawframes_good(frame_root):
    res = rawframe_pipeline(True)(rawframe_info(frame_root, 'good'))
    np.testing.assert_array_equal(frame_indices_of(res['imgs']) + 1, res['frame_inds'])


@pytest.mark.parametrize('name', ['missing_tail', 'corrupt', 'absent'])
def test_rawframes_bad(frame_root, name, skip_dir, warnings_log):
    info = rawframe_info(frame_root, name)
    # Test mode samples deterministically and always hits frames 6 and 12.
    with pytest.raises(VideoDecodeError, match=name):
        rawframe_pipeline(True)(dict(info))
    np.random.seed(0)
    skipped = [rawframe_pipeline(False)(dict(info)) is None for _ in range(5)]
    assert any(skipped)


# -------------------------------------------- datasets, workers, the hook
def _dataset(root, zoo, test_mode):
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    shutil.copy(zoo['zero'], osp.join(root, 'videos', 'bad_zero.mp4'))
    shutil.copy(zoo['random'], osp.join(root, 'videos', 'bad_random.mp4'))
    ann = make_video_list(
        root,
        [(f'ok{i}.mp4', i % 3) for i in range(6)] + [('bad_zero.mp4', 0), ('bad_random.mp4', 1)],
        num_frames=20,
    )
    return VideoDataset(
        ann,
        data_prefix=dict(video=osp.join(root, 'videos')),
        test_mode=test_mode,
        pipeline=[
            dict(type='TDSDecordInit', test_mode=test_mode),
            dict(type='SampleTDSFrames', num_segments=2, num_local_frames=3, test_mode=test_mode),
            dict(type='TDSDecordDecode', test_mode=test_mode),
            dict(type='Resize', scale=(32, 32), keep_ratio=False),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ],
    )


class _Logger:
    def __init__(self):
        self.records = []

    def info(self, msg):
        self.records.append(('info', msg))

    def warning(self, msg):
        self.records.append(('warning', msg))


@pytest.mark.parametrize('num_workers, persistent', [(0, False), (2, False), (2, True)])
def test_skipped_samples_hook_counts_across_workers(
    tmp_path, zoo, monkeypatch, num_workers, persistent
):
    monkeypatch.delenv(SKIPPED_DIR_ENV, raising=False)
    monkeypatch.setattr(bad_samples, '_warned_here', set())
    dataset = _dataset(str(tmp_path), zoo, test_mode=False)
    hook = HOOKS.build(dict(type='SkippedSamplesHook'))
    runner = types.SimpleNamespace(
        log_dir=str(tmp_path / 'log'),
        epoch=0,
        logger=_Logger(),
        message_hub=MessageHub.get_instance('skip-hook-test'),
    )
    hook.before_run(runner)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=2,
        num_workers=num_workers,
        persistent_workers=persistent,
        collate_fn=pseudo_collate,
    )
    for epoch in range(2):
        runner.epoch = epoch
        seen = sum(len(batch['inputs']) for batch in loader)
        assert seen == 8  # every bad draw was replaced by a good one
        hook.after_train_epoch(runner)
        level, message = runner.logger.records[-1]
        events, _ = read_skip_events(hook.skip_dir, {})
        # Each bad file is its own index once per epoch, and random
        # replacements may land on a bad file again.
        assert level == 'warning'
        assert f'Epoch {epoch + 1}: skipped' in message
        count = int(message.split('skipped ')[1].split()[0])
        assert count >= 2
        assert 'from 2 files' in message
    assert len(events) == int(runner.message_hub.get_info('skipped_samples_epoch')) + sum(
        int(m.split('skipped ')[1].split()[0]) for _, m in runner.logger.records[:-1]
    )
    # One warning marker per bad file, whichever worker met it first.
    assert len(os.listdir(osp.join(hook.skip_dir, 'warned'))) == 2
    hook.after_run(runner)
    assert SKIPPED_DIR_ENV not in os.environ
    assert '2 unreadable files' in runner.logger.records[-1][1]


def test_hook_logs_zero_when_nothing_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv(SKIPPED_DIR_ENV, raising=False)
    hook = HOOKS.build(dict(type='SkippedSamplesHook'))
    runner = types.SimpleNamespace(
        log_dir=str(tmp_path),
        epoch=0,
        logger=_Logger(),
        message_hub=MessageHub.get_instance('skip-hook-test-0'),
    )
    hook.before_run(runner)
    hook.after_train_epoch(runner)
    assert runner.logger.records == [
        (
            'info',
            'Epoch 1: skipped 0 unreadable training samples from 0 '
            'files (0 distinct files so far).',
        )
    ]
    hook.after_run(runner)


def test_test_mode_dataset_names_the_file(tmp_path, zoo):
    dataset = _dataset(str(tmp_path), zoo, test_mode=True)
    assert dataset[0]['inputs'].shape == (1, 3, 6, 32, 32)
    with pytest.raises(VideoDecodeError, match='bad_zero.mp4'):
        dataset[6]


def test_rawframe_dataset_skips_in_training(tmp_path, frame_root, skip_dir, warnings_log):
    ann = osp.join(str(tmp_path), 'ann.txt')
    with open(ann, 'w') as f:
        f.write('good 12 0\nabsent 12 1\n')
    dataset = RawframeDataset(
        ann,
        data_prefix=dict(img=osp.join(frame_root, 'frames')),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=[
            dict(type='SampleTDSFrames', num_segments=2, num_local_frames=3),
            dict(type='TDSRawFrameDecode'),
            dict(type='Resize', scale=(32, 32), keep_ratio=False),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ],
    )
    np.random.seed(0)
    for _ in range(4):
        sample = dataset[1]
        assert sample['data_samples'].gt_label.item() == 0
    assert len(warnings_log) == 1 and 'absent' in warnings_log[0]


def test_runner_reports_skips_per_epoch_with_workers(tmp_path, zoo):
    """A real training run (2 epochs, 2 persistent workers) on a list with
    two unreadable videos: each is named once in the log, and every epoch
    ends with the count."""
    from _video_fixtures import make_tiny
    from mmengine.config import Config
    from mmengine.runner import Runner

    root = str(tmp_path)
    os.makedirs(osp.join(root, 'videos'))
    shutil.copy(zoo['zero'], osp.join(root, 'videos', 'bad_zero.mp4'))
    shutil.copy(zoo['truncated'], osp.join(root, 'videos', 'bad_cut.mp4'))
    train = make_video_list(
        root,
        [(f'ok{i}.mp4', i) for i in range(4)] + [('bad_zero.mp4', 1), ('bad_cut.mp4', 2)],
        num_frames=20,
        height=48,
        width=64,
        ann_name='train.txt',
    )
    val = make_video_list(root, [('ok0.mp4', 0)], ann_name='val.txt')
    cfg = make_tiny(
        Config.fromfile(
            str(
                Path(__file__).resolve().parents[2]
                / 'configs'
                / 'tdsclip'
                / 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'
            )
        )
    )
    for split, ann, workers in (('train', train, 2), ('val', val, 0), ('test', val, 0)):
        cfg[f'{split}_dataloader'].update(
            batch_size=2, num_workers=workers, persistent_workers=workers > 0
        )
        cfg[f'{split}_dataloader'].dataset.update(
            ann_file=ann, data_prefix=dict(video=osp.join(root, 'videos'))
        )
    cfg.train_cfg.max_epochs = 2
    cfg.work_dir = osp.join(root, 'work')
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    log_file = glob.glob(osp.join(runner.log_dir, '*.log'))[0]
    log = Path(log_file).read_text()
    for epoch in (1, 2):
        assert f'Epoch {epoch}: skipped ' in log
        line = log.split(f'Epoch {epoch}: skipped ')[1].split('\n')[0]
        assert int(line.split()[0]) >= 2
    for name in ('bad_zero.mp4', 'bad_cut.mp4'):
        assert log.count(f'Skipping unreadable video {osp.join(root, "videos", name)}') == 1
    assert '2 distinct files so far' in log


class _Indices(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        return index


def test_hook_restarts_iteration_loop_workers_in_the_same_order(tmp_path, monkeypatch):
    """IterBasedTrainLoop starts its workers before before_run: the hook
    restarts them so they see the records folder, without changing the
    data order."""
    from mmengine.dataset import InfiniteSampler
    from mmengine.runner.loops import _InfiniteDataloaderIterator

    def loader():
        sampler = InfiniteSampler(_Indices(), shuffle=True, seed=3)
        return torch.utils.data.DataLoader(_Indices(), batch_size=2, sampler=sampler, num_workers=1)

    expected = _InfiniteDataloaderIterator(loader())
    expected = [next(expected).tolist() for _ in range(12)]
    monkeypatch.delenv(SKIPPED_DIR_ENV, raising=False)
    dataloader = loader()
    loop = types.SimpleNamespace(
        dataloader=dataloader, dataloader_iterator=_InfiniteDataloaderIterator(dataloader)
    )
    started = loop.dataloader_iterator
    runner = types.SimpleNamespace(_train_loop=loop, log_dir=str(tmp_path))
    hook = HOOKS.build(dict(type='SkippedSamplesHook'))
    hook.before_run(runner)
    assert loop.dataloader_iterator is not started
    del started
    assert [next(loop.dataloader_iterator).tolist() for _ in range(12)] == expected
    hook.after_run(types.SimpleNamespace(logger=_Logger()))
