"""Data transforms of TDS-CLIP, registered in MMAction2's TRANSFORMS."""

from .augment import (
    ClipRandAugment,
    ClipRandomGrayscale,
    FullResThreeCrop,
    LongSideThreeCrop,
    TorchvisionCenterCrop,
)
from .loading import TDSDecordDecode, TDSDecordInit, TDSPyAVDecode, TDSPyAVInit, TDSRawFrameDecode
from .resize import PillowRandomSizedCrop, PillowResize
from .sampling import SampleTDSFrames
from .wrappers import RepeatAugment

__all__ = [
    'SampleTDSFrames',
    'TDSDecordInit',
    'TDSDecordDecode',
    'TDSPyAVInit',
    'TDSPyAVDecode',
    'TDSRawFrameDecode',
    'ClipRandAugment',
    'ClipRandomGrayscale',
    'LongSideThreeCrop',
    'FullResThreeCrop',
    'TorchvisionCenterCrop',
    'PillowResize',
    'PillowRandomSizedCrop',
    'RepeatAugment',
]
