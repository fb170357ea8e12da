"""NaNGuardHook: a non-finite loss stops training before the checkpoint on disk is replaced."""

import hashlib
import os
import os.path as osp
import re

import pytest
import torch
from _reliability_worker import ITERS_PER_EPOCH, runner_cfg
from mmaction.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop, Runner

from mmaction_tdsclip.engine.hooks import NaNGuardHook, nan_guard_hook
from mmaction_tdsclip.engine.hooks.nan_guard_hook import non_finite_entries


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns


class PoisonBatch(Hook):
    """Turn the inputs of iteration ``at`` (1-based) into NaN, as corrupt data would.

    Before poisoning, it fingerprints the checkpoint files then on disk.
    """

    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at
        self.on_disk = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at:
            return
        self.on_disk = {
            name: _digest(osp.join(runner.work_dir, name))
            for name in os.listdir(runner.work_dir)
            if name.endswith('.pth')
        }
        for clip in data_batch['inputs']:
            clip.fill_(float('nan'))


class SpoilWeights(Hook):
    """After iteration ``at``, put a NaN into a trainable weight; the loss of that iteration was finite."""

    priority = 'LOW'  # after NaNGuardHook, before CheckpointHook

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                runner.model.cls_head.fc_cls.weight[0, 0] = float('nan')


def _load_state(path):
    return torch.load(path, map_location='cpu')['state_dict']


def _all_finite(tensors):
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _runner(tmp_path, name, **kwargs):
    return Runner(
        **runner_cfg(str(tmp_path / name), val=False, experiment_name=f'nan_guard_{name}', **kwargs)
    )


def test_nan_loss_stops_epoch_run_before_checkpoint(tmp_path):
    poison = PoisonBatch(at=2 * ITERS_PER_EPOCH + 2)  # iteration 8: epoch 3, batch 2 of 3
    runner = _runner(
        tmp_path, 'epoch', loop='epoch', max_steps=4, ckpt_interval=1, custom_hooks=[poison]
    )
    with pytest.raises(
        FloatingPointError, match=re.escape('loss is nan at iteration 8 (epoch 3, batch 2 of 3)')
    ) as info:
        runner.train()
    work_dir = runner.work_dir
    last = osp.join(work_dir, 'epoch_2.pth')
    assert last in str(info.value) and 'lr' in str(info.value)
    # The step with the NaN gradients did happen: without the guard, the
    # epoch-3 checkpoint would have held these weights.
    assert not _all_finite(runner.model.parameters())
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == last
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == [
        'epoch_1.pth',
        'epoch_2.pth',
    ]
    assert {n: _digest(osp.join(work_dir, n)) for n in poison.on_disk} == poison.on_disk
    assert _all_finite(_load_state(last).values())


def test_nan_loss_at_a_checkpoint_iteration_keeps_the_previous_one(tmp_path):
    # Iteration-based, a checkpoint every 2 iterations; iteration 4 would save one.
    poison = PoisonBatch(at=4)
    runner = _runner(
        tmp_path, 'iter', loop='iter', max_steps=6, ckpt_interval=2, custom_hooks=[poison]
    )
    with pytest.raises(FloatingPointError, match=r'loss is nan at iteration 4; training stopped'):
        runner.train()
    work_dir = runner.work_dir
    assert sorted(n for n in os.listdir(work_dir) if n.endswith('.pth')) == ['iter_2.pth']
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'iter_2.pth')
    assert poison.on_disk['iter_2.pth'] == _digest(osp.join(work_dir, 'iter_2.pth'))
    assert _all_finite(_load_state(osp.join(work_dir, 'iter_2.pth')).values())


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    runner = _runner(
        tmp_path,
        'weights',
        loop='epoch',
        max_steps=2,
        ckpt_interval=1,
        custom_hooks=[SpoilWeights(at=ITERS_PER_EPOCH)],
    )
    with pytest.raises(
        FloatingPointError,
        match=r'Refusing to save the checkpoint after iteration 3: .*cls_head\.fc_cls\.weight',
    ):
        runner.train()
    assert not any(n.endswith('.pth') for n in os.listdir(runner.work_dir))
    assert not osp.exists(osp.join(runner.work_dir, 'last_checkpoint'))


def test_guard_runs_before_the_checkpoint_hook(tmp_path):
    runner = _runner(tmp_path, 'order', loop='iter', max_steps=2, ckpt_interval=1)
    names = [type(h).__name__ for h in runner.hooks]
    assert names.index('NaNGuardHook') < names.index('AtomicCheckpointHook')
    assert isinstance(HOOKS.build(dict(type='NaNGuardHook')), NaNGuardHook)


def test_non_finite_entries():
    outputs = dict(
        loss=torch.tensor(float('inf')),
        loss_cls=torch.tensor([1.0, float('-inf')]),
        top1_acc=torch.tensor(float('nan')),
        loss_aux=2.0,
        loss_nan=float('nan'),
    )
    assert non_finite_entries(outputs) == [
        ('loss', 'inf'),
        ('loss_cls', '-inf'),
        ('loss_nan', 'nan'),
    ]
    assert non_finite_entries(outputs, keys=['top1_acc']) == [('top1_acc', 'nan')]
    assert non_finite_entries(dict(loss=torch.tensor(0.5), loss_cls=torch.zeros(0))) == []


class _FakeRunner:
    iter, epoch = 36, 1
    cfg, timestamp = Config(), '20260101_000000'

    def __init__(self, work_dir):
        self.work_dir = work_dir
        self.train_loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
        self.train_loop.dataloader = [0] * 18


def test_all_ranks_stop_together(tmp_path, monkeypatch):
    """A NaN seen by another rank stops this rank at the same iteration."""
    reduced = []

    def all_reduce(flag, op='sum'):
        reduced.append(op)
        flag += 1  # the other rank's verdict

    monkeypatch.setattr(nan_guard_hook, 'get_world_size', lambda: 2)
    monkeypatch.setattr(nan_guard_hook, 'all_reduce', all_reduce)
    hook, runner = NaNGuardHook(), _FakeRunner(str(tmp_path))
    with pytest.raises(
        FloatingPointError,
        match=re.escape(
            'a loss is not finite on another rank at iteration 37 (epoch 2, batch 5 of 18)'
        ),
    ):
        hook.after_train_iter(runner, 4, outputs=dict(loss=torch.tensor(0.3)))
    with pytest.raises(FloatingPointError, match=r'loss is inf at iteration 37 .* on rank 0'):
        hook.after_train_iter(runner, 4, outputs=dict(loss=torch.tensor(float('inf'))))
    assert reduced == ['sum', 'sum']
