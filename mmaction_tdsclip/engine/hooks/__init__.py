"""Runner hooks of TDS-CLIP, registered in MMAction2's HOOKS."""

from .skipped_samples_hook import SkippedSamplesHook

__all__ = ['SkippedSamplesHook']
from .atomic_checkpoint_hook import AtomicCheckpointHook  # noqa: E402
from .config_check_hook import TDSConfigCheckHook  # noqa: E402
from .nan_guard_hook import NaNGuardHook  # noqa: E402
from .resume_lr_scale_hook import ResumeLRScaleHook  # noqa: E402
from .visualization_hook import SingleViewVisualizationHook  # noqa: E402

__all__ += [
    'AtomicCheckpointHook',
    'NaNGuardHook',
    'ResumeLRScaleHook',
    'SingleViewVisualizationHook',
    'TDSConfigCheckHook',
]
