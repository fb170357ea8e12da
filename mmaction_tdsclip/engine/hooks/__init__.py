"""Runner hooks of TDS-CLIP, registered in MMAction2's HOOKS."""
from .skipped_samples_hook import SkippedSamplesHook

__all__ = ['SkippedSamplesHook']
