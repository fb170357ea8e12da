from .clip_weights import (CheckpointFormatError, load_clip_visual_weights, read_torchscript_state_dict,
                           read_weight_file)
from .frozen_clip_vit import ARCH_PRESETS, FrozenCLIPViT

__all__ = [
    'ARCH_PRESETS', 'CheckpointFormatError', 'FrozenCLIPViT', 'load_clip_visual_weights',
    'read_torchscript_state_dict', 'read_weight_file'
]
