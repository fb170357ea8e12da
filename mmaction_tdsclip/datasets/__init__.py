"""Datasets side of TDS-CLIP: sampling, decoding and augmentation."""

from . import transforms  # noqa: F401  (registration)
from .annotation_lists import AnnotationError, TDSRawframeDataset, TDSVideoDataset
from .bad_samples import SKIPPED_DIR_ENV, VideoDecodeError, handle_bad_sample, read_skip_events

__all__ = [
    'AnnotationError',
    'TDSRawframeDataset',
    'TDSVideoDataset',
    'SKIPPED_DIR_ENV',
    'VideoDecodeError',
    'handle_bad_sample',
    'read_skip_events',
]
