from .sme_adapter import SMEAdapter, local_frame_differences
from .td_adapter import TDAdapter

__all__ = ['SMEAdapter', 'TDAdapter', 'local_frame_differences']
