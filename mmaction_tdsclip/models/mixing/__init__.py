"""Mixing TDS-CLIP parts into other models from a config alone.

Imports (and so registers) the frozen ViT wrappers for open_clip and
mmpretrain backbones, the adapter insertion wrapper and the motion stem.
"""
from ..backbones.mmpretrain_vit import MMPretrainViT
from ..backbones.open_clip_vit import OpenCLIPViT
from ..utils import AdapterInsertedBackbone, FrozenTokenBackbone, insert_adapters, match_module_names
from .motion_stem import MotionStemBackbone, SMEStem

__all__ = [
    'AdapterInsertedBackbone', 'FrozenTokenBackbone', 'MMPretrainViT', 'MotionStemBackbone', 'OpenCLIPViT',
    'SMEStem', 'insert_adapters', 'match_module_names'
]
