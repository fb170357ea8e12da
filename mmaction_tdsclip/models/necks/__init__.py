from .base_side_neck import BACKBONE_GEOMETRY, BaseSideNeck
from .frame_averaging_neck import FrameAveragingNeck
from .side_projection import SideProjection
from .tds_block import TDSBlock
from .tds_side_network import TDSSideNetwork

__all__ = [
    'BACKBONE_GEOMETRY',
    'BaseSideNeck',
    'FrameAveragingNeck',
    'SideProjection',
    'TDSBlock',
    'TDSSideNetwork',
]
