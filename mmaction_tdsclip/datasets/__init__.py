"""Datasets side of TDS-CLIP: sampling, decoding and augmentation."""

from . import transforms  # noqa: F401  (registration)
from .bad_samples import SKIPPED_DIR_ENV, VideoDecodeError, handle_bad_sample, read_skip_events

__all__ = ['SKIPPED_DIR_ENV', 'VideoDecodeError', 'handle_bad_sample', 'read_skip_events']
