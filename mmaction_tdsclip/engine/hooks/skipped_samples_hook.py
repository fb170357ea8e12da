"""Per-epoch report of training samples skipped as unreadable."""

import os
import os.path as osp
from typing import Dict, Optional, Set

from mmaction.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets.bad_samples import SKIPPED_DIR_ENV, read_skip_events


@HOOKS.register_module()
class SkippedSamplesHook(Hook):
    """Log, after every training epoch, how many samples were skipped.

    The loading transforms of this plugin skip videos they cannot decode
    during training (another sample is drawn). Skips happen in dataloader
    workers, so they are counted through files: before the run this hook
    sets the environment variable ``MMACTION_TDSCLIP_SKIPPED_DIR`` to
    ``<log_dir>/<subdir>``, inherited by every worker started afterwards
    (``fork`` or ``spawn``, any ``num_workers``, persistent or not); each
    process appends its skips there, and after each epoch this hook reads
    the new ones and logs the number of skipped samples and of distinct
    files. The run's total is logged at the end.

    Args:
        subdir: Folder under the run's log directory for the skip records.
    """

    priority = 'LOW'

    def __init__(self, subdir: str = 'skipped_samples') -> None:
        self.subdir = subdir
        self.skip_dir: Optional[str] = None
        self._offsets: Dict[str, int] = {}
        self._files_seen: Set[str] = set()
        self._total = 0
        self._previous_env: Optional[str] = None

    def before_run(self, runner) -> None:
        self.skip_dir = osp.join(runner.log_dir, self.subdir)
        os.makedirs(self.skip_dir, exist_ok=True)
        self._previous_env = os.environ.get(SKIPPED_DIR_ENV)
        os.environ[SKIPPED_DIR_ENV] = self.skip_dir
        self._restart_started_workers(runner)

    @staticmethod
    def _restart_started_workers(runner) -> None:
        """An ``IterBasedTrainLoop`` starts its dataloader workers when it is
        built, before ``before_run``, so they would not see the variable:
        stop them and start them again (no batch has been used yet).

        mmengine's ``InfiniteSampler`` keeps one index generator for all its
        iterators, which the stopped iterator would close; it is made anew
        (same seed), so the data order is the one without the restart.
        """
        loop = getattr(runner, '_train_loop', None)
        iterator = getattr(loop, 'dataloader_iterator', None)
        dataloader = getattr(loop, 'dataloader', None)
        if iterator is None or getattr(dataloader, 'num_workers', 0) == 0:
            return
        started = getattr(iterator, '_iterator', None)
        if hasattr(started, '_shutdown_workers'):
            started._shutdown_workers()
        sampler = getattr(dataloader, 'sampler', None)
        if hasattr(sampler, '_indices_of_rank') and hasattr(sampler, 'indices'):
            sampler.indices = sampler._indices_of_rank()
        loop.dataloader_iterator = type(iterator)(dataloader)

    def after_train_epoch(self, runner) -> None:
        if self.skip_dir is None:
            return
        events, self._offsets = read_skip_events(self.skip_dir, self._offsets)
        files = {event['file'] for event in events}
        self._files_seen |= files
        self._total += len(events)
        message = (
            f'Epoch {runner.epoch + 1}: skipped {len(events)} '
            f'unreadable training samples from {len(files)} files '
            f'({len(self._files_seen)} distinct files so far).'
        )
        if events:
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
        runner.message_hub.update_info('skipped_samples_epoch', len(events))

    def after_run(self, runner) -> None:
        if self.skip_dir is None:
            return
        if self._total:
            runner.logger.warning(
                f'{self._total} training samples were skipped from '
                f'{len(self._files_seen)} unreadable files; see '
                f'{self.skip_dir}.'
            )
        if self._previous_env is None:
            os.environ.pop(SKIPPED_DIR_ENV, None)
        else:
            os.environ[SKIPPED_DIR_ENV] = self._previous_env
