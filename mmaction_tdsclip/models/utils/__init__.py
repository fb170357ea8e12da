"""Model surgery: inserting adapters into existing backbones from a config."""

from .adapter_insertion import (
    LAYOUTS,
    InsertedAdapter,
    init_identity,
    insert_adapters,
    match_module_names,
)

__all__ = [
    'LAYOUTS',
    'InsertedAdapter',
    'init_identity',
    'insert_adapters',
    'match_module_names',
]
