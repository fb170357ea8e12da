"""A tiny, deterministic TDS-CLIP training run for the reliability tests.

Imported by the tests for :func:`runner_cfg` and the toy dataset; the runs
that the tests kill with SIGKILL are separate processes started with
:func:`start` (forked, so that they skip the import of torch and MMAction2)
or from the command line (``python tests/_reliability_worker.py WORK_DIR
...``).

Determinism: one CPU thread, no dropout, data drawn from a generator seeded
by the sample index plus an "augmentation" from numpy's global RNG (as
MMAction2's random transforms use), a seeded sampler, and fixed seeds.
"""

import argparse
import json
import multiprocessing
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmaction.registry import DATASETS, HOOKS
from mmaction.structures import ActionDataSample
from mmengine.hooks import Hook
from torch.utils.data import Dataset

import mmaction_tdsclip  # noqa: F401  (shims, registration)

NUM_SAMPLES = 6
BATCH_SIZE = 2
ITERS_PER_EPOCH = NUM_SAMPLES // BATCH_SIZE
NUM_SEGMENTS, NUM_LOCAL_FRAMES, IMG_SIZE, NUM_CLASSES = 2, 3, 16, 3


@DATASETS.register_module(force=True)
class ToyClips(Dataset):
    """Clips ``(1, 3, T*n, 16, 16)`` in [0, 255], label ``index % 3``.

    Args:
        size: Number of samples.
        augment: Roll each clip by a random offset drawn from numpy's
            global RNG, so that resuming exactly needs that RNG replayed.
    """

    metainfo = dict(classes=tuple(f'class{i}' for i in range(NUM_CLASSES)))

    def __init__(self, size: int = NUM_SAMPLES, augment: bool = True) -> None:
        self.size = size
        self.augment = augment

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Dict:
        g = torch.Generator().manual_seed(index)
        clip = (
            torch.rand((1, 3, NUM_SEGMENTS * NUM_LOCAL_FRAMES, IMG_SIZE, IMG_SIZE), generator=g)
            * 255
        )
        # Make the label visible in the data so that accuracy means something.
        clip[:, index % NUM_CLASSES] *= 0.5
        if self.augment:
            clip = clip.roll(int(np.random.randint(IMG_SIZE)), dims=-1)
        sample = ActionDataSample().set_gt_label(index % NUM_CLASSES)
        return dict(inputs=clip, data_samples=sample)


@HOOKS.register_module(force=True)
class PauseAtIterHook(Hook):
    """After iteration ``at`` (1-based) write ``marker`` and wait to be killed."""

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, at: int, marker: str) -> None:
        self.at = at
        self.marker = marker

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at:
            _touch(self.marker)
            while True:
                time.sleep(1)


@HOOKS.register_module(force=True)
class RecordHook(Hook):
    """Record where training started, the final val metrics and weights."""

    priority = 'LOWEST'

    def __init__(self, out_dir: str, dump_at: Sequence[int] = ()) -> None:
        self.out_dir = out_dir
        self.dump_at = list(dump_at)
        self.record: Dict = {}

    def before_train(self, runner) -> None:
        self.record.update(start_iter=runner.iter, start_epoch=runner.epoch)
        if runner.iter == 0:
            torch.save(_state(runner), osp.join(self.out_dir, 'initial_state.pt'))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 in self.dump_at:
            torch.save(_state(runner), osp.join(self.out_dir, f'state_iter_{runner.iter + 1}.pt'))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.record['metrics'] = {k: float(v) for k, v in (metrics or {}).items()}

    def after_train(self, runner) -> None:
        self.record['end_iter'] = runner.iter
        torch.save(_state(runner), osp.join(self.out_dir, 'final_state.pt'))
        with open(osp.join(self.out_dir, 'result.json'), 'w') as f:
            json.dump(self.record, f)


def _state(runner) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def _touch(path: str) -> None:
    with open(path, 'w') as f:
        f.write(str(os.getpid()))


def runner_cfg(
    work_dir: str,
    loop: str = 'iter',
    max_steps: int = 12,
    ckpt_interval: int = 4,
    max_keep_ckpts: int = -1,
    nan_guard: bool = True,
    atomic: bool = True,
    num_workers: int = 0,
    custom_hooks: Optional[List[Dict]] = None,
    resume: bool = False,
    val: bool = True,
    experiment_name: Optional[str] = None,
) -> Dict:
    """Runner kwargs of the tiny run.

    Args:
        loop: ``'iter'`` (IterBasedTrainLoop, InfiniteSampler, ``max_steps``
            iterations, a checkpoint every ``ckpt_interval`` iterations) or
            ``'epoch'`` (EpochBasedTrainLoop, DefaultSampler, ``max_steps``
            epochs of 3 iterations, a checkpoint every ``ckpt_interval``
            epochs).
    """
    by_epoch = loop == 'epoch'
    if by_epoch:
        sampler = dict(type='DefaultSampler', shuffle=True)
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_steps, val_begin=max_steps)
        total_iters = max_steps * ITERS_PER_EPOCH
    else:
        sampler = dict(type='InfiniteSampler', shuffle=True)
        train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_steps, val_interval=max_steps)
        total_iters = max_steps
    warmup = max(1, total_iters // 2)
    hooks = [dict(type='NaNGuardHook')] if nan_guard else []
    cfg = dict(
        work_dir=work_dir,
        experiment_name=experiment_name or f'run_{os.getpid()}_{time.time_ns()}',
        model=dict(
            type='TDSCLIPRecognizer',
            backbone=dict(
                type='FrozenCLIPViT',
                arch=dict(embed_dims=32, num_layers=1, num_heads=2, patch_size=8),
                img_size=IMG_SIZE,
            ),
            neck=dict(
                type='TDSSideNetwork',
                num_segments=NUM_SEGMENTS,
                num_local_frames=NUM_LOCAL_FRAMES,
                side_dim=64,
            ),
            cls_head=dict(
                type='TDSHead', num_classes=NUM_CLASSES, in_channels=64, average_clips='prob'
            ),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[127.5] * 3,
                std=[64.0] * 3,
                format_shape='NCTHW',
            ),
        ),
        train_dataloader=dict(
            batch_size=BATCH_SIZE,
            num_workers=num_workers,
            persistent_workers=False,
            sampler=sampler,
            dataset=dict(type='ToyClips'),
        ),
        train_cfg=train_cfg,
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05), clip_grad=dict(max_norm=1.0)
        ),
        # Warm-up then cosine: the scheduler state must come back on resume too.
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
            dict(
                type='CosineAnnealingLR',
                T_max=total_iters - warmup,
                by_epoch=False,
                begin=warmup,
                end=total_iters,
            ),
        ],
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook' if atomic else 'CheckpointHook',
                interval=ckpt_interval,
                by_epoch=by_epoch,
                max_keep_ckpts=max_keep_ckpts,
            ),
            logger=dict(type='LoggerHook', interval=1),
        ),
        custom_hooks=hooks + list(custom_hooks or []),
        env_cfg=dict(
            cudnn_benchmark=False,
            mp_cfg=dict(mp_start_method='fork'),
            dist_cfg=dict(backend='gloo'),
        ),
        randomness=dict(seed=0),
        default_scope='mmaction',
        resume=resume,
        load_from=None,
        log_level='WARNING',
    )
    if val:
        cfg.update(
            val_dataloader=dict(
                batch_size=BATCH_SIZE,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='ToyClips', augment=False),
            ),
            val_cfg=dict(type='ValLoop'),
            val_evaluator=dict(type='AccMetric'),
        )
    return cfg


def _stall_saves_of(filename: str, marker: str) -> None:
    """Freeze this process inside the save of ``filename``, just before the rename.

    The checkpoint bytes are in a temporary file by then; the test kills
    the process here, i.e. in the middle of the save.
    """
    replace = os.replace

    def stalling_replace(src, dst, *args, **kwargs):
        if osp.basename(str(dst)) == filename:
            _touch(marker)
            while True:
                time.sleep(1)
        return replace(src, dst, *args, **kwargs)

    os.replace = stalling_replace


def _child(argv: Sequence[str], log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # The parent's sys.stdout may be a capture object (pytest) rather than fd 1.
    sys.stdout = open(1, 'w', buffering=1, closefd=False)
    sys.stderr = open(2, 'w', buffering=1, closefd=False)
    main(argv)


def start(work_dir: str, *args: str) -> multiprocessing.process.BaseProcess:
    """Run :func:`main` on ``[work_dir, *args]`` in a forked process.

    Its output goes to ``WORK_DIR/stdout.log``.
    """
    os.makedirs(work_dir, exist_ok=True)
    proc = multiprocessing.get_context('fork').Process(
        target=_child, args=([work_dir, *args], osp.join(work_dir, 'stdout.log')), daemon=False
    )
    proc.start()
    return proc


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('work_dir')
    parser.add_argument('--loop', choices=['iter', 'epoch'], default='iter')
    parser.add_argument('--max-steps', type=int, default=12)
    parser.add_argument('--ckpt-interval', type=int, default=4)
    parser.add_argument('--max-keep-ckpts', type=int, default=-1)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--pause-at', type=int, help='iteration after which to wait to be killed')
    parser.add_argument('--stall-save', help='checkpoint file name whose save waits to be killed')
    parser.add_argument('--dump-at', type=int, nargs='*', default=[])
    parser.add_argument('--resume', action='store_true')
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    from mmengine.runner import Runner

    os.makedirs(args.work_dir, exist_ok=True)
    hooks = [dict(type='RecordHook', out_dir=args.work_dir, dump_at=args.dump_at)]
    if args.pause_at:
        hooks.append(
            dict(type='PauseAtIterHook', at=args.pause_at, marker=osp.join(args.work_dir, 'paused'))
        )
    if args.stall_save:
        _stall_saves_of(args.stall_save, osp.join(args.work_dir, 'paused'))
    cfg = runner_cfg(
        args.work_dir,
        loop=args.loop,
        max_steps=args.max_steps,
        ckpt_interval=args.ckpt_interval,
        max_keep_ckpts=args.max_keep_ckpts,
        num_workers=args.num_workers,
        custom_hooks=hooks,
        resume=args.resume,
    )
    Runner(**cfg).train()


if __name__ == '__main__':
    sys.exit(main())
