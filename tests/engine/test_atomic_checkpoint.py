"""AtomicCheckpointHook: a save killed half-way never leaves a broken checkpoint behind."""

import json
import os
import os.path as osp
import signal
import time
from types import SimpleNamespace

import pytest
import torch
from _reliability_worker import start
from mmaction.registry import HOOKS
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

from mmaction_tdsclip.engine.hooks import AtomicCheckpointHook
from mmaction_tdsclip.engine.hooks.atomic_checkpoint_hook import (
    ATOMIC_BACKEND,
    PARTIAL_SUFFIX,
    AtomicLocalBackend,
    atomic_write_bytes,
    remove_partial_files,
)

MAX_WAIT_S = 240


# ------------------------------------------------------------ atomic writes
def test_atomic_write_creates_and_replaces(tmp_path):
    path = tmp_path / 'sub' / 'ckpt.pth'
    atomic_write_bytes(b'first', path)
    atomic_write_bytes(b'second', str(path))
    assert path.read_bytes() == b'second'
    assert os.listdir(path.parent) == ['ckpt.pth']


def test_atomic_write_gives_plain_open_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(b'x', tmp_path / 'a')
        with open(tmp_path / 'b', 'wb') as f:
            f.write(b'x')
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / 'a').st_mode == os.stat(tmp_path / 'b').st_mode


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'complete old checkpoint')

    def failing_fsync(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_bytes(b'new bytes that never land', path)
    assert path.read_bytes() == b'complete old checkpoint'
    assert os.listdir(tmp_path) == ['ckpt.pth']


def test_remove_partial_files_only_removes_leftovers(tmp_path):
    for name in [
        'epoch_1.pth',
        'last_checkpoint',
        f'.epoch_2.pth.123.ab12cd34{PARTIAL_SUFFIX}',
        'notes.partial',
    ]:
        (tmp_path / name).write_bytes(b'x')
    removed = remove_partial_files(str(tmp_path))
    assert [osp.basename(p) for p in removed] == [f'.epoch_2.pth.123.ab12cd34{PARTIAL_SUFFIX}']
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth', 'last_checkpoint', 'notes.partial']


def test_backend_is_registered(tmp_path):
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend=ATOMIC_BACKEND))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put_text('hello', tmp_path / 'x.txt')
    assert backend.get_text(tmp_path / 'x.txt') == 'hello'


def test_hook_is_atomic_only_on_local_storage():
    hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1))
    assert isinstance(hook, AtomicCheckpointHook) and isinstance(hook, CheckpointHook)
    assert hook.atomic and hook.backend_args == dict(backend=ATOMIC_BACKEND)
    remote = AtomicCheckpointHook(interval=1, out_dir='s3://bucket/ckpts')
    assert not remote.atomic and remote.backend_args is None
    custom = AtomicCheckpointHook(interval=1, backend_args=dict(backend='local'))
    assert not custom.atomic


# ---------------------------------------- saving order with max_keep_ckpts
class _Crash(Exception):
    pass


def _fake_runner(work_dir, crash_on=None):
    """The runner surface that CheckpointHook uses, with a save that can crash."""

    def save_checkpoint(out_dir, filename, file_client_args=None, backend_args=None, **kwargs):
        if filename == crash_on:
            raise _Crash(filename)
        get_file_backend(out_dir, backend_args=backend_args).put(
            filename.encode(), osp.join(out_dir, filename)
        )

    name = f'ckpt_order_{osp.basename(work_dir)}'
    return SimpleNamespace(
        work_dir=work_dir,
        save_checkpoint=save_checkpoint,
        message_hub=MessageHub.get_instance(name),
        logger=MMLogger.get_instance(name),
    )


@pytest.mark.parametrize('hook_type', [CheckpointHook, AtomicCheckpointHook])
def test_crash_during_save_with_max_keep_ckpts(tmp_path, hook_type):
    """mmengine deletes the oldest checkpoint before writing the new one;
    AtomicCheckpointHook deletes it only once the new one is on disk.

    The CheckpointHook case documents the upstream behaviour that makes the
    subclass necessary; if it starts failing, upstream changed the order.
    """
    work_dir = str(tmp_path / hook_type.__name__)
    os.makedirs(work_dir)
    hook = hook_type(interval=1, by_epoch=False, max_keep_ckpts=1)
    runner = _fake_runner(work_dir, crash_on='iter_4.pth')
    hook.before_train(runner)
    hook._save_checkpoint_with_step(runner, 2, dict(iter=2))
    with pytest.raises(_Crash):
        hook._save_checkpoint_with_step(runner, 4, dict(iter=4))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        pointer = f.read()
    assert pointer == osp.join(work_dir, 'iter_2.pth')
    if hook_type is CheckpointHook:
        assert not osp.exists(pointer)  # the only checkpoint is gone
    else:
        assert open(pointer, 'rb').read() == b'iter_2.pth'
        # Once a save succeeds, the outdated checkpoint goes.
        hook._save_checkpoint_with_step(runner, 6, dict(iter=6))
        assert sorted(os.listdir(work_dir)) == ['iter_6.pth', 'last_checkpoint']


# ------------------------------------------------ SIGKILL during a real save
@pytest.fixture(scope='module')
def killed_during_save(tmp_path_factory):
    """A run with max_keep_ckpts=1 killed while writing iter_4.pth, then resumed."""
    work_dir = str(tmp_path_factory.mktemp('killed_during_save'))
    args = ['--loop', 'iter', '--max-steps', '6', '--ckpt-interval', '2', '--max-keep-ckpts', '1']
    victim = start(work_dir, *args, '--stall-save', 'iter_4.pth', '--dump-at', '2')
    marker, deadline = osp.join(work_dir, 'paused'), time.monotonic() + MAX_WAIT_S
    while not osp.exists(marker):
        assert victim.is_alive(), open(osp.join(work_dir, 'stdout.log')).read()[-3000:]
        assert time.monotonic() < deadline, 'the victim never reached the save of iter_4.pth'
        time.sleep(0.2)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(MAX_WAIT_S)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        state = dict(
            exitcode=victim.exitcode,
            pointer=f.read(),
            files=sorted(os.listdir(work_dir)),
            partial=[n for n in os.listdir(work_dir) if n.endswith(PARTIAL_SUFFIX)],
        )
    state['partial_sizes'] = [os.path.getsize(osp.join(work_dir, n)) for n in state['partial']]
    state['checkpoint'] = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu')
    state['dumped'] = torch.load(osp.join(work_dir, 'state_iter_2.pt'))
    resumed = start(work_dir, *args, '--resume')
    resumed.join(MAX_WAIT_S)
    log = open(osp.join(work_dir, 'stdout.log')).read()
    assert resumed.exitcode == 0, log[-3000:]
    with open(osp.join(work_dir, 'result.json')) as f:
        state['resumed'] = json.load(f)
    state.update(work_dir=work_dir, log=log, files_after=sorted(os.listdir(work_dir)))
    return state


def test_kill_during_save_leaves_previous_checkpoint_intact(killed_during_save):
    s = killed_during_save
    assert s['exitcode'] == -signal.SIGKILL
    # The save had written its bytes (to the temporary file) when it died.
    assert len(s['partial']) == 1 and s['partial'][0].startswith('.iter_4.pth.')
    assert s['partial_sizes'][0] > 0
    assert 'iter_4.pth' not in s['files']
    # max_keep_ckpts=1, yet the previous checkpoint survived, complete, and
    # last_checkpoint points at it.
    assert s['pointer'] == osp.join(s['work_dir'], 'iter_2.pth')
    assert s['checkpoint']['meta']['iter'] == 2
    weights = s['checkpoint']['state_dict']
    assert weights.keys() == s['dumped'].keys()
    assert all(torch.equal(weights[k], s['dumped'][k]) for k in weights)
    assert {'optimizer', 'param_schedulers', 'message_hub'} <= set(s['checkpoint'])


def test_run_resumes_from_the_intact_checkpoint(killed_during_save):
    s = killed_during_save
    assert s['resumed']['start_iter'] == 2 and s['resumed']['end_iter'] == 6
    assert 'left by a checkpoint save that was interrupted' in s['log']
    assert not [n for n in s['files_after'] if n.endswith(PARTIAL_SUFFIX)]
    assert [n for n in s['files_after'] if n.endswith('.pth')] == ['iter_6.pth']
    with open(osp.join(s['work_dir'], 'last_checkpoint')) as f:
        assert f.read() == osp.join(s['work_dir'], 'iter_6.pth')
