"""Loading checkpoints without running code stored in them."""

import os
import pickle
from typing import Any, Callable, Dict, List, Union

import torch

MapLocation = Union[str, torch.device, Dict[str, str], Callable, None]

_SAFETENSORS_SUFFIX = '.safetensors'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint that would need code execution to load."""


def _is_safetensors(path: str) -> bool:
    """Recognise a safetensors file by name, or by its header: an 8-byte
    little-endian length followed by a JSON object."""
    if path.endswith(_SAFETENSORS_SUFFIX):
        return True
    with open(path, 'rb') as f:
        head = f.read(9)
    return (
        len(head) == 9
        and head[8:9] == b'{'
        and int.from_bytes(head[:8], 'little') < os.path.getsize(path)
    )


def _unsafe_globals(path: str) -> List[str]:
    """What a torch zip checkpoint needs beyond the allow-list (empty for
    files this cannot inspect, such as legacy non-zip pickles)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:
        return []


def _unpickler_reason(message: str) -> str:
    """The line of torch's long weights_only error that names the cause."""
    for line in message.splitlines():
        if 'WeightsUnpickler error:' in line:
            return line.split('WeightsUnpickler error:', 1)[1].strip()
    return message


def _safetensors_device(map_location: MapLocation) -> str:
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


def load_checkpoint_safely(path: Union[str, os.PathLike], map_location: MapLocation = 'cpu') -> Any:
    """Load a checkpoint with no code execution.

    ``.safetensors`` files (or files with a safetensors header) are read
    with ``safetensors``; anything else with ``torch.load(...,
    weights_only=True)``, which accepts tensors, plain containers and the
    types on torch's allow-list (``import mmaction_tdsclip`` adds the few
    that mmengine checkpoints contain, see
    :func:`mmaction_tdsclip.compat.allow_mmengine_checkpoints`).

    Args:
        path: Checkpoint file.
        map_location: Device to load tensors onto, as in ``torch.load``.
            For safetensors only a device (string or ``torch.device``) is
            used; other forms load to the CPU.

    Returns:
        The stored object: a dict of tensors for safetensors, usually a
        dict (``state_dict``, ``meta``, ...) for torch checkpoints.

    Raises:
        UnsafeCheckpointError: the file needs globals that are not
            allow-listed, i.e. it would run code when unpickled.
    """
    path = os.fspath(path)
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(path, device=_safetensors_device(map_location))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        needed = _unsafe_globals(path)
        if needed:
            detail = 'it needs globals that are not on the allow-list: ' + ', '.join(needed)
        else:
            detail = _unpickler_reason(str(error)).rstrip('.')
        raise UnsafeCheckpointError(
            f'Refusing to load {path} with weights_only=True: {detail}. '
            'Loading it would run code stored in the file. If you trust '
            'its source, convert it once in a separate step (torch.load '
            'with weights_only=False, then save the state dict, or save it '
            'as .safetensors) and load the converted file.'
        ) from error
