from .adapter_inserted_backbone import AdapterInsertedBackbone
from .clip_weights import (
    CheckpointFormatError,
    load_clip_visual_weights,
    read_torchscript_state_dict,
    read_weight_file,
)
from .frozen_clip_vit import ARCH_PRESETS, FrozenCLIPViT
from .frozen_token_backbone import FrozenTokenBackbone
from .mmpretrain_vit import MMPretrainViT
from .motion_stem import MotionStemBackbone, SMEStem
from .open_clip_vit import OpenCLIPViT

__all__ = [
    'ARCH_PRESETS',
    'AdapterInsertedBackbone',
    'CheckpointFormatError',
    'FrozenCLIPViT',
    'FrozenTokenBackbone',
    'MMPretrainViT',
    'MotionStemBackbone',
    'OpenCLIPViT',
    'SMEStem',
    'load_clip_visual_weights',
    'read_torchscript_state_dict',
    'read_weight_file',
]
