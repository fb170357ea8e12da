"""Crash-safe checkpointing: no half-written checkpoint, no dangling pointer.

mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb')`` straight onto
its final name, then rewrites ``work_dir/last_checkpoint`` the same way, and
with ``max_keep_ckpts`` deletes the oldest checkpoint *before* writing the new
one. A process killed during a save (SIGKILL, OOM killer, pre-emption, power
loss) can therefore leave a truncated ``epoch_N.pth``, an empty
``last_checkpoint``, or no checkpoint at all; ``--resume`` then fails or
starts over.

:class:`AtomicCheckpointHook` is a drop-in :class:`CheckpointHook` that
writes every checkpoint and the pointer to a temporary file in the same
directory, ``fsync``\\ s it, renames it over the final name
(``os.replace``, atomic on POSIX and Windows) and ``fsync``\\ s the
directory; outdated checkpoints are deleted only after the new one and the
pointer are on disk. At any instant, ``last_checkpoint`` names a complete
file.
"""

import glob
import os
import os.path as osp
import secrets
from pathlib import Path
from typing import List, Optional, Union

from mmaction.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

# Temporary files end with this; a save that was killed leaves one behind,
# which the next run removes.
PARTIAL_SUFFIX = '.partial'
ATOMIC_BACKEND = 'atomic_local'


def _fsync_dir(directory: str) -> None:
    """Persist a rename: fsync the directory entry where the OS allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that readers see the old or new file, never a mix.

    The bytes go to ``.<name>.<pid>.<random>.partial`` next to ``path``
    (same file system, so the rename is atomic), are flushed and fsync'ed,
    and the file is renamed over ``path``. On any error the temporary file is
    removed and ``path`` is untouched.
    """
    path = osp.abspath(str(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = osp.join(
        directory, f'.{osp.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}'
    )
    # O_EXCL: never write through a file or link someone else put there.
    # 0o666 (masked by the umask) gives the permissions a plain open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0), 0o666)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def remove_partial_files(directory: str) -> List[str]:
    """Delete the temporary files that killed saves left in ``directory``.

    Returns:
        The removed paths.
    """
    removed = []
    for path in glob.glob(osp.join(glob.escape(directory), f'.*{PARTIAL_SUFFIX}')):
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put``/``put_text`` are atomic."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` with crash-safe saving.

    Takes the same arguments. Use it in place of the default checkpoint
    hook::

        default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook',
                                             interval=1, max_keep_ckpts=3))

    On local storage (``out_dir`` unset or a local path, no
    ``backend_args``/``file_client_args``) every checkpoint, best checkpoint
    and ``last_checkpoint`` is written atomically (see
    :func:`atomic_write_bytes`), old checkpoints are removed only after the
    new one is on disk, and temporary files left by a killed save are
    removed at the start of training. With a remote ``out_dir`` or a custom
    backend it behaves exactly like :class:`CheckpointHook`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.atomic = (
            self.backend_args is None and self.file_client_args is None and _is_local(self.out_dir)
        )
        if self.atomic:
            self.backend_args = dict(backend=ATOMIC_BACKEND)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.atomic and is_main_process():
            for path in remove_partial_files(self.out_dir) + remove_partial_files(runner.work_dir):
                runner.logger.warning(
                    f'Removed {path}, left by a checkpoint save that was interrupted.'
                )

    def _claim_keep_slot(self, runner, step: int) -> List[str]:
        """Record ``step`` among the kept checkpoints.

        Returns:
            The checkpoint paths that fall out of ``max_keep_ckpts``; the
            caller deletes them once the new checkpoint is safely written.
        """
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            outdated.append(
                self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(self.keep_ckpt_ids.popleft())
                )
            )
        self.keep_ckpt_ids.append(step)
        # Saved inside the new checkpoint, so a resumed run knows which
        # files it still owns.
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return outdated

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self.atomic:
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        hub = runner.message_hub
        kept = list(self.keep_ckpt_ids) if self.max_keep_ckpts > 0 else None
        last = self.last_ckpt, hub.get_info('last_ckpt')
        outdated = self._claim_keep_slot(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        hub.update_info('last_ckpt', self.last_ckpt)
        try:
            runner.save_checkpoint(
                self.out_dir,
                filename,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args,
            )
        except BaseException:
            # Nothing was written: the bookkeeping goes back to the files on disk.
            if kept is not None:
                self.keep_ckpt_ids.clear()
                self.keep_ckpt_ids.extend(kept)
                hub.update_info('keep_ckpt_ids', kept)
            self.last_ckpt = last[0]
            if last[1] is not None:
                hub.update_info('last_ckpt', last[1])
            raise
        if not is_main_process():
            return
        atomic_write_bytes(
            str(self.last_ckpt).encode(), osp.join(runner.work_dir, 'last_checkpoint')
        )
        for path in outdated:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
