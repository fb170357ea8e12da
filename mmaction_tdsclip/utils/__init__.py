from .checkpoint import UnsafeCheckpointError, load_checkpoint_safely

__all__ = ['UnsafeCheckpointError', 'load_checkpoint_safely']
