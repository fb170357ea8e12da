"""Model utilities of the mixing features: frozen token backbones and adapter insertion."""
from .adapter_insertion import (LAYOUTS, AdapterInsertedBackbone, InsertedAdapter, init_identity,
                                insert_adapters, match_module_names)
from .frozen_tokens import FrozenTokenBackbone

__all__ = [
    'LAYOUTS', 'AdapterInsertedBackbone', 'FrozenTokenBackbone', 'InsertedAdapter', 'init_identity',
    'insert_adapters', 'match_module_names'
]
