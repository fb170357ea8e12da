"""Bookkeeping for videos that cannot be decoded.

Training skips an unreadable sample (the loading transform returns ``None``
and mmengine's ``BaseDataset`` draws another index); testing raises
:class:`VideoDecodeError` naming the file.

Skips happen inside dataloader worker processes, so they are counted through
the file system: :class:`~mmaction_tdsclip.engine.hooks.SkippedSamplesHook`
points the environment variable :data:`SKIPPED_DIR_ENV` at a folder of the
run's log directory before any worker starts (workers inherit the
environment under both ``fork`` and ``spawn``). Each process appends one JSON
line per skip to its own ``events-<pid>.jsonl`` there, and the first process
to meet a file creates a marker in ``warned/``, so the warning naming a file
is printed once per run however many workers meet it. Without the hook the
warning is printed once per file per process and nothing is written.
"""

import hashlib
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Set, Tuple

from mmengine.logging import print_log

SKIPPED_DIR_ENV = 'MMACTION_TDSCLIP_SKIPPED_DIR'

_warned_here: Set[str] = set()


class VideoDecodeError(RuntimeError):
    """A video file or frame folder could not be decoded."""


def _first_to_warn(filename: str, log_dir: str) -> bool:
    """True for the first process of the run to report ``filename``."""
    if filename in _warned_here:
        return False
    _warned_here.add(filename)
    if not log_dir:
        return True
    marker_dir = osp.join(log_dir, 'warned')
    os.makedirs(marker_dir, exist_ok=True)
    digest = hashlib.sha1(filename.encode('utf-8', 'replace')).hexdigest()
    try:
        fd = os.open(osp.join(marker_dir, digest), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def record_skipped_sample(filename: str, reason: str) -> None:
    """Warn (once per file) that ``filename`` is skipped and log the event."""
    log_dir = os.environ.get(SKIPPED_DIR_ENV, '')
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        line = json.dumps({'file': filename, 'reason': reason}) + '\n'
        with open(osp.join(log_dir, f'events-{os.getpid()}.jsonl'), 'a', encoding='utf-8') as f:
            f.write(line)
    if _first_to_warn(filename, log_dir):
        print_log(
            f'Skipping unreadable video {filename}: {reason}. '
            'Another sample is drawn in its place.',
            logger='current',
            level=logging.WARNING,
        )


def handle_bad_sample(filename: str, reason: str, test_mode: bool) -> None:
    """Raise in test mode, otherwise record the skip.

    Raises:
        VideoDecodeError: when ``test_mode`` is True.
    """
    if test_mode:
        raise VideoDecodeError(f'Cannot decode {filename}: {reason}')
    record_skipped_sample(filename, reason)


def read_skip_events(log_dir: str, offsets: Dict[str, int]) -> Tuple[List[dict], Dict[str, int]]:
    """Skip events appended to ``log_dir`` since ``offsets``.

    Args:
        log_dir: The folder the workers write to.
        offsets: Bytes already consumed per events file (not modified).

    Returns:
        The new events (dicts with ``file`` and ``reason``) and the updated
        offsets. A line still being written (no trailing newline) is left
        for the next call.
    """
    events: List[dict] = []
    new_offsets = dict(offsets)
    if not osp.isdir(log_dir):
        return events, new_offsets
    for name in sorted(os.listdir(log_dir)):
        if not (name.startswith('events-') and name.endswith('.jsonl')):
            continue
        path = osp.join(log_dir, name)
        with open(path, 'rb') as f:
            f.seek(offsets.get(name, 0))
            data = f.read()
        complete = data[: data.rfind(b'\n') + 1]
        for line in complete.splitlines():
            if line.strip():
                events.append(json.loads(line))
        new_offsets[name] = offsets.get(name, 0) + len(complete)
    return events, new_offsets
