"""Every weight file the plugin reads, and every conversion of one.

* :mod:`.reader`: the one safe reader (safetensors, TorchScript archives
  read without running code, ``torch.load(weights_only=True)``), with one
  clear line for empty, truncated, misnamed or malicious files; it also
  serves MMEngine's loaders (:func:`use_for_mmengine`).
* :mod:`.clip`: CLIP visual towers (OpenAI, open_clip, mmpretrain) into
  :class:`FrozenCLIPViT`'s layout.
* :mod:`.authors`: the TDS-CLIP authors' released checkpoints into the
  recognizer's layout, and their architecture read off the shapes.
* :mod:`.strict`: strict loading of any checkpoint into a recognizer.
* :mod:`.convert`: the file-to-file conversions of ``tools/convert_weights.py``.
"""

from .authors import (
    config_mismatches,
    convert_official_state_dict,
    describe_config,
    infer_official_config,
    is_official_checkpoint,
    recognizer_model_config,
)
from .clip import (
    convert_clip_weights,
    describe_clip_state_dict,
    load_clip_visual_weights,
    load_visual_state_dict,
)
from .reader import (
    CheckpointFormatError,
    UnsafeCheckpointError,
    is_torchscript_archive,
    read_checkpoint,
    read_state_dict,
    read_torchscript_state_dict,
    state_dict_of,
    strip_module_prefix,
    use_for_mmengine,
)
from .strict import CheckpointMismatchError, StrictLoadMixin

__all__ = [
    'CheckpointFormatError',
    'CheckpointMismatchError',
    'StrictLoadMixin',
    'UnsafeCheckpointError',
    'config_mismatches',
    'convert_clip_weights',
    'convert_official_state_dict',
    'describe_clip_state_dict',
    'describe_config',
    'infer_official_config',
    'is_official_checkpoint',
    'is_torchscript_archive',
    'load_clip_visual_weights',
    'load_visual_state_dict',
    'read_checkpoint',
    'read_state_dict',
    'read_torchscript_state_dict',
    'recognizer_model_config',
    'state_dict_of',
    'strip_module_prefix',
    'use_for_mmengine',
]
