"""Data transforms of TDS-CLIP, registered in MMAction2's TRANSFORMS."""

from .augment import ClipRandAugment, ClipRandomGrayscale, LongSideThreeCrop
from .loading import TDSDecordDecode, TDSDecordInit, TDSPyAVDecode, TDSPyAVInit, TDSRawFrameDecode
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
    'RepeatAugment',
]
