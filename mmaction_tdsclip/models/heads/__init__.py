from .tds_head import TDSHead

__all__ = ['TDSHead']
