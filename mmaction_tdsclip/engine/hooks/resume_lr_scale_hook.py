"""Scale the learning rate of a resumed run, schedulers included.

On ``--resume`` MMEngine restores the optimizer's param groups and every
parameter scheduler from the checkpoint, so a lower
``optim_wrapper.optimizer.lr`` in the config has no effect on a resumed
run. :class:`ResumeLRScaleHook` (``tools/train.py --resume CKPT
--resume-lr-scale FACTOR``) multiplies, after the checkpoint is loaded,
everything the resumed learning rate is made of by ``FACTOR``.
"""

import logging
from typing import List

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

# Param-group entries that hold learning rates: the current value, the
# value schedulers start from, and OneCycleLR's bounds.
LR_GROUP_KEYS = ('lr', 'initial_lr', 'max_lr', 'min_lr')
# Scheduler attributes in learning-rate units (eta_min of cosine / poly
# schedules is absolute; eta_min_ratio variants store eta_min=None).
LR_SCHEDULER_ATTRS = ('base_values', '_last_value', 'eta_min')


def scale_resumed_lr(optim_wrapper, param_schedulers, scale: float) -> List[str]:
    """Multiply every learning rate of a resumed run by ``scale``.

    Args:
        optim_wrapper: The runner's ``OptimWrapper`` or ``OptimWrapperDict``.
        param_schedulers: The runner's schedulers: a list, a dict of lists
            (one per optimizer), or None.
        scale: The factor, > 0.

    Returns:
        ``'old -> new'`` for each param group's ``lr``.
    """
    if not scale > 0:
        raise ValueError(f'the learning-rate scale must be > 0, got {scale}')
    wrappers = list(optim_wrapper.values()) if hasattr(optim_wrapper, 'values') else [optim_wrapper]
    changes = []
    for wrapper in wrappers:
        for group in wrapper.optimizer.param_groups:
            old = group['lr']
            for key in LR_GROUP_KEYS:
                if isinstance(group.get(key), (int, float)):
                    group[key] *= scale
            changes.append(f'{old:.4g} -> {group["lr"]:.4g}')
    if param_schedulers is None:
        schedulers = []
    elif isinstance(param_schedulers, dict):
        schedulers = [s for group in param_schedulers.values() for s in group]
    else:
        schedulers = list(param_schedulers)
    for scheduler in schedulers:
        if getattr(scheduler, 'param_name', None) != 'lr':
            continue  # momentum and weight-decay schedulers are left alone
        for attr in LR_SCHEDULER_ATTRS:
            value = getattr(scheduler, attr, None)
            if isinstance(value, list):
                setattr(scheduler, attr, [v * scale for v in value])
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(scheduler, attr, value * scale)
    return changes


@HOOKS.register_module()
class ResumeLRScaleHook(Hook):
    """After ``--resume``, multiply the learning rate by ``scale``: the
    optimizer's param groups (``lr``, ``initial_lr``) and the resumed
    parameter schedulers (``base_values``, last values, absolute
    ``eta_min``), so the whole remaining schedule is ``scale`` times the
    checkpoint's.

    It acts in ``before_train``, after the runner has loaded the checkpoint,
    and only when the run did resume (``runner._has_loaded``): scaling a
    fresh start is what ``optim_wrapper.optimizer.lr`` is for. The scaled
    values are saved in the next checkpoint, so a later ``--resume`` must
    not repeat the option.

    Args:
        scale: Factor, e.g. 0.1 for a ten times lower learning rate.
    """

    priority = 'VERY_HIGH'

    def __init__(self, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f'ResumeLRScaleHook: scale must be > 0, got {scale}')
        self.scale = float(scale)

    def before_train(self, runner) -> None:
        if not runner._has_loaded or not runner._resume:
            raise RuntimeError(
                f'--resume-lr-scale {self.scale:g} was given but no checkpoint was resumed '
                f'(work dir {runner.work_dir}); pass --resume CHECKPOINT, or set '
                'optim_wrapper.optimizer.lr for a fresh start.'
            )
        changes = scale_resumed_lr(runner.optim_wrapper, runner.param_schedulers, self.scale)
        print_log(
            f'Resumed with the learning rate scaled by {self.scale:g} '
            f'(schedulers included): {", ".join(changes)}',
            logger='current',
            level=logging.WARNING,
        )
