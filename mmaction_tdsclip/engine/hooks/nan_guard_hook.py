"""Stop training on a non-finite loss before it reaches a checkpoint."""

import math
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import HOOKS
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

DATA_BATCH = Optional[Union[dict, tuple, list]]


def _describe(value: float) -> str:
    if math.isnan(value):
        return 'nan'
    return 'inf' if value > 0 else '-inf'


def non_finite_entries(values: Dict, keys: Optional[Sequence[str]] = None) -> List[Tuple[str, str]]:
    """``(name, 'nan' | 'inf' | '-inf')`` for each non-finite watched value.

    Args:
        values: Name to tensor or number, e.g. the log variables that
            ``model.train_step`` returns.
        keys: Names to watch; None watches every name containing ``'loss'``.
    """
    found = []
    for name, value in values.items():
        if (name not in keys) if keys is not None else ('loss' not in name):
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach()
            if value.numel() == 0 or bool(torch.isfinite(value).all()):
                continue
            value = value[~torch.isfinite(value)].flatten()[0].item()
        elif isinstance(value, (int, float)):
            if math.isfinite(value):
                continue
        else:
            continue
        found.append((name, _describe(float(value))))
    return found


def non_finite_tensors(
    state_dict: Dict[str, torch.Tensor], limit: int = 5
) -> Tuple[List[str], int]:
    """Names (at most ``limit``) and count of floating tensors holding nan or inf."""
    bad = [
        name
        for name, tensor in state_dict.items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
    return bad[:limit], len(bad)


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Raise ``FloatingPointError`` as soon as a training loss is nan or inf.

    By the time the loss is seen, the optimizer has already stepped with its
    gradients, so the weights in memory may be ruined. The hook runs in
    ``after_train_iter`` with ``VERY_HIGH`` priority, before
    :class:`CheckpointHook` (``VERY_LOW``), EMA or logging hooks of the same
    iteration, and stops the run there: the newest checkpoint on disk is the
    last one saved with finite losses. The error message gives the command
    that resumes from it with a 10x lower learning rate
    (``tools/train.py --resume CKPT --resume-lr-scale 0.1``, see
    :class:`ResumeLRScaleHook`).

    As a second line of defence (``check_checkpoint``), a checkpoint whose
    weights hold nan or inf is refused before it is written, which covers a
    step that turned finite losses into non-finite weights at the end of an
    epoch.

    In distributed training every rank learns whether any rank saw a
    non-finite loss (one all-reduce of a scalar per iteration), so all ranks
    stop at the same iteration instead of some waiting forever in the next
    collective.

    Args:
        keys: Output names to check; None checks every output whose name
            contains ``'loss'`` (``loss`` and ``loss_cls`` for MMAction2
            recognizers).
        check_checkpoint: Refuse to save a checkpoint with non-finite
            weights.
        sync_ranks: All-reduce the verdict across ranks when the world size
            is above 1.
    """

    priority = 'VERY_HIGH'

    def __init__(
        self,
        keys: Optional[Iterable[str]] = None,
        check_checkpoint: bool = True,
        sync_ranks: bool = True,
    ) -> None:
        self.keys = None if keys is None else list(keys)
        self.check_checkpoint = check_checkpoint
        self.sync_ranks = sync_ranks

    @staticmethod
    def _position(runner, batch_idx: int) -> str:
        """``'iteration 37 (epoch 2, batch 5 of 18)'``, 1-based like the logs."""
        text = f'iteration {runner.iter + 1}'
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            try:
                per_epoch = f' of {len(loop.dataloader)}'
            except TypeError:
                per_epoch = ''
            text += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}{per_epoch})'
        return text

    @staticmethod
    def _last_checkpoint_path(runner) -> Optional[str]:
        # The pointer file, not the message hub: CheckpointHook records the
        # new name in the hub before it writes the file.
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        if not osp.isfile(pointer):
            return None
        with open(pointer) as f:
            return f.read().strip()

    @classmethod
    def _last_checkpoint(cls, runner) -> str:
        last = cls._last_checkpoint_path(runner)
        if last is None:
            return f'no checkpoint was recorded in {runner.work_dir}'
        return f'the newest checkpoint, {last}, predates it and is kept'

    @staticmethod
    def _run_config(runner) -> str:
        """The config as this run used it (command-line options merged in),
        which the Runner dumped into the work dir; else the original file."""
        filename = getattr(runner.cfg, 'filename', None)
        dumped = osp.join(
            runner.work_dir, osp.basename(filename) if filename else f'{runner.timestamp}.py'
        )
        if osp.isfile(dumped):
            return dumped
        return filename or 'CONFIG'

    @classmethod
    def remedy(cls, runner) -> str:
        """What to do next, as a command that works: resuming restores the
        learning rate and schedulers from the checkpoint, so a lower
        ``optim_wrapper.optimizer.lr`` alone would not change the resumed run;
        ``--resume-lr-scale`` scales the resumed values."""
        last = cls._last_checkpoint_path(runner)
        config = cls._run_config(runner)
        if last is None:
            return (
                'To start again with a lower learning rate, run:\n'
                f'    python tools/train.py {config} --work-dir {runner.work_dir} '
                '--cfg-options optim_wrapper.optimizer.lr=<lower lr>\n'
                'Other remedies: gradient clipping (optim_wrapper.clip_grad.max_norm=...), '
                "or check this batch's data."
            )
        return (
            'To resume from it with a 10x lower learning rate (schedulers scaled too), run:\n'
            f'    python tools/train.py {config} --work-dir {runner.work_dir} --resume {last} '
            '--resume-lr-scale 0.1\n'
            'Other remedies: gradient clipping (add --cfg-options '
            "optim_wrapper.clip_grad.max_norm=...), or check this batch's data."
        )

    def after_train_iter(
        self, runner, batch_idx: int, data_batch: DATA_BATCH = None, outputs: Optional[dict] = None
    ) -> None:
        found = non_finite_entries(outputs or {}, self.keys)
        elsewhere = False
        if self.sync_ranks and get_world_size() > 1:
            device = next(
                (v.device for v in (outputs or {}).values() if isinstance(v, torch.Tensor)),
                torch.device('cpu'),
            )
            flag = torch.tensor([float(bool(found))], device=device)
            all_reduce(flag, op='sum')
            elsewhere = flag.item() > 0 and not found
        if not found and not elsewhere:
            return
        where = self._position(runner, batch_idx)
        if found:
            name, kind = found[0]
            rank = f' on rank {get_rank()}' if get_world_size() > 1 else ''
            message = f'{name} is {kind} at {where}{rank}'
            detail = (
                ' Non-finite: ' + ', '.join(f'{n}={k}' for n, k in found) + '.'
                if len(found) > 1
                else ''
            )
        else:
            message, detail = f'a loss is not finite on another rank at {where}', ''
        raise FloatingPointError(
            f'{message}; training stopped before any checkpoint of this iteration; '
            f'{self._last_checkpoint(runner)}.{detail}\n{self.remedy(runner)}'
        )

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not self.check_checkpoint:
            return
        names, count = non_finite_tensors(checkpoint.get('state_dict', {}))
        if count:
            # Iterations completed, however the checkpoint hook counts them.
            done = checkpoint.get('meta', {}).get('iter', runner.iter)
            more = f' and {count - len(names)} more' if count > len(names) else ''
            raise FloatingPointError(
                f'Refusing to save the checkpoint after iteration {done}: its weights hold nan '
                f'or inf ({", ".join(names)}{more}); {self._last_checkpoint(runner)}.\n'
                f'{self.remedy(runner)}'
            )
