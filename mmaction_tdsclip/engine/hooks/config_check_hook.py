"""Run the TDS-CLIP config checks at the start of every run."""

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from ...utils.config_checks import check_param_schedulers, check_tdsclip_config


@HOOKS.register_module()
class TDSConfigCheckHook(Hook):
    """Check ``runner.cfg`` with :func:`check_tdsclip_config` in ``before_run``.

    ``before_run`` comes after the runner has built the model and the
    dataloaders but before the first batch is loaded, in ``train()``,
    ``val()`` and ``test()`` alike, whatever launched the run. A mismatch
    between the data and the model therefore stops the run with one message
    that lists every problem under its config field, instead of a shape
    error at the first forward or an index error mid-epoch. (Mistakes that
    make the model itself fail to build are reported by the model; tools
    that call :func:`check_tdsclip_config` before building the runner report
    those under their config field too.)

    Args:
        check_ann_files: Read the annotation files to compare their labels
            with ``model.cls_head.num_classes``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_ann_files: bool = True) -> None:
        self.check_ann_files = check_ann_files
        self._checked = False

    def before_run(self, runner) -> None:
        if self._checked:
            return
        # The loops built by now are those this run executes (train() builds
        # train and val, test() only test); mmengine keeps unbuilt ones as dicts.
        loops = dict(train=runner._train_loop, val=runner._val_loop, test=runner._test_loop)
        running = [name for name, loop in loops.items() if isinstance(loop, BaseLoop)]
        if 'train' in running:
            # Runner.train() has built the schedulers by now, so an empty
            # range has already failed (tools/train.py checks before that); a
            # scheduler cut off by the run's end is still reported here, for
            # launchers that skip tools/train.py.
            check_param_schedulers(runner.cfg, logger=runner.logger)
        check_tdsclip_config(
            runner.cfg, check_ann_files=self.check_ann_files, logger=runner.logger, running=running
        )
        self._checked = True
