from .adapter_inserted_backbone import AdapterInsertedBackbone
from .frozen_clip_vit import ARCH_PRESETS, FrozenCLIPViT
from .frozen_token_backbone import FrozenTokenBackbone
from .mmpretrain_vit import MMPretrainViT
from .motion_stem import MotionStemBackbone, SMEStem
from .open_clip_vit import OpenCLIPViT

__all__ = [
    'ARCH_PRESETS',
    'AdapterInsertedBackbone',
    'FrozenCLIPViT',
    'FrozenTokenBackbone',
    'MMPretrainViT',
    'MotionStemBackbone',
    'OpenCLIPViT',
    'SMEStem',
]
