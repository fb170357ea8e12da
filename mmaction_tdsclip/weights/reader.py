"""The one reader of weight files: no code stored in a file is ever run.

Three kinds of files are read:

* safetensors (by name or by header), with ``safetensors``;
* TorchScript archives (OpenAI's CLIP ``.pt``), with a restricted unpickler
  that rebuilds tensors and containers only, so the archive's code is never
  compiled or run;
* every other PyTorch file, with ``torch.load(weights_only=True)``: tensors,
  containers and the types on torch's allow-list (``import mmaction_tdsclip``
  adds the few that mmengine checkpoints hold, see
  :func:`mmaction_tdsclip.compat.allow_mmengine_checkpoints`).

A file that cannot be read gets one line naming the file, what is wrong and
what to do (:class:`CheckpointFormatError`, :class:`UnsafeCheckpointError`).
:func:`use_for_mmengine` makes MMEngine's loaders (``load_from``,
``--resume``, ``init_recognizer``, the Inferencers) read local files here too.
"""

import _compat_pickle
import io
import os
import pickle
import pickletools
import zipfile
import zlib
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Union

import torch

MapLocation = Union[str, torch.device, Dict[str, str], Callable, None]

# Wrappers a state dict is found under: MMEngine ('state_dict'), the TDS-CLIP
# authors ('model_state_dict'), and common training scripts.
STATE_DICT_WRAPPERS = ('state_dict', 'model_state_dict', 'model', 'module')

_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = 0x80  # first byte of a pickle of protocol >= 2

_STORAGE_DTYPES = {
    'FloatStorage': torch.float32,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'DoubleStorage': torch.float64,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
}


class CheckpointFormatError(ValueError):
    """A weight file that cannot be read, or holds another format or architecture."""


class UnsafeCheckpointError(CheckpointFormatError, pickle.UnpicklingError):
    """A checkpoint that would need code execution to load."""


# --------------------------------------------------------------------------
# TorchScript archives
# --------------------------------------------------------------------------


class _ScriptObject:
    """Stands in for a TorchScript class: only its attribute dict is kept."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {})


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *unused) -> torch.Tensor:
    return storage.as_strided(size, stride, offset).clone()


def _rebuild_parameter(data: torch.Tensor, *unused) -> torch.Tensor:
    return data


class _TorchScriptDataUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl`` without resolving any code."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module: str, name: str):
        if module.startswith('__torch__'):
            return _ScriptObject
        if module == 'torch._utils' and name == '_rebuild_tensor_v2':
            return _rebuild_tensor
        if module == 'torch._utils' and name == '_rebuild_parameter':
            return _rebuild_parameter
        if module == 'torch' and name in _STORAGE_DTYPES:
            return name
        if module == 'collections' and name == 'OrderedDict':
            return OrderedDict
        raise UnsafeCheckpointError(
            f'Refusing to load {module}.{name} from a TorchScript archive: only tensors and '
            'containers are read, no code is run.'
        )

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != 'storage' or storage_type not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f'Unexpected persistent id {pid!r}.')
        dtype = _STORAGE_DTYPES[storage_type]
        raw = bytearray(self._archive.read(f'{self._prefix}data/{key}'))
        if not raw:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(raw, dtype=dtype)[:numel]


def _collect_tensors(obj, prefix: str, out: Dict[str, torch.Tensor]) -> None:
    for name, value in vars(obj).items():
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _collect_tensors(value, f'{prefix}{name}.', out)


def is_torchscript_archive(path: str) -> bool:
    """True for a TorchScript zip archive (it holds a ``code/`` folder)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any('/code/' in n for n in archive.namelist())


def read_torchscript_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read the tensors of a TorchScript archive (OpenAI's CLIP ``.pt``).

    Returns:
        A state dict named by attribute path (``visual.conv1.weight`` ...).
    """
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith('data.pkl') and n.count('/') == 1]
        if not pkl:
            raise CheckpointFormatError(
                f'{path}: a zip archive without data.pkl is not a TorchScript file.'
            )
        prefix = pkl[0][: -len('data.pkl')]
        root = _TorchScriptDataUnpickler(archive.read(pkl[0]), archive, prefix).load()
    state: Dict[str, torch.Tensor] = OrderedDict()
    _collect_tensors(root, '', state)
    return state


# --------------------------------------------------------------------------
# Telling formats and damage apart
# --------------------------------------------------------------------------


def _head(path: str, size: int = 9) -> bytes:
    with open(path, 'rb') as f:
        return f.read(size)


def _has_safetensors_header(path: str) -> bool:
    """An 8-byte little-endian header length followed by a JSON object."""
    head = _head(path)
    return (
        len(head) == 9
        and head[8:9] == b'{'
        and int.from_bytes(head[:8], 'little') < os.path.getsize(path)
    )


def _pickle_globals(data: bytes) -> List[str]:
    """``module.name`` of every global the pickles in ``data`` import.

    Reads opcodes only (``pickletools``), never unpickles. Consecutive
    pickles are scanned (the legacy torch format stores several); the scan
    stops at the first bytes that are not a pickle.
    """
    found: List[str] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        strings: List[str] = []
        memo: Dict[int, str] = {}
        last_string = None
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                name = opcode.name
                if name == 'GLOBAL':
                    found.append(arg.replace(' ', '.'))
                elif name == 'STACK_GLOBAL' and len(strings) >= 2:
                    found.append(f'{strings[-2]}.{strings[-1]}')
                elif isinstance(arg, str) and ('UNICODE' in name or 'STRING' in name):
                    strings.append(arg)
                    last_string = arg
                    continue
                elif name == 'MEMOIZE' and last_string is not None:
                    memo[len(memo)] = last_string
                elif name in ('BINPUT', 'LONG_BINPUT', 'PUT') and last_string is not None:
                    memo[arg] = last_string
                elif name in ('BINGET', 'LONG_BINGET', 'GET') and arg in memo:
                    strings.append(memo[arg])
                    last_string = memo[arg]
                    continue
                if name != 'MEMOIZE':
                    last_string = None
        except Exception:  # the end of the pickles: raw tensor bytes or truncation
            break
    return list(dict.fromkeys(found))


def _disallowed(names: List[str]) -> List[str]:
    """The globals that torch's weights_only unpickler would refuse."""
    from torch import _weights_only_unpickler as unpickler

    allowed = set()
    get_allowed = getattr(unpickler, '_get_allowed_globals', None)
    if get_allowed is not None:
        allowed |= set(get_allowed())
    for entry in torch.serialization.get_safe_globals():
        if isinstance(entry, tuple):
            allowed.add(entry[1])
        else:
            allowed.add(f'{entry.__module__}.{entry.__qualname__}')
    return [n for n in names if n not in allowed]


def _python3_name(name: str) -> str:
    """The name Python 3 resolves a pickled global to: protocol-2 pickles store
    some under their Python 2 names (``subprocess.Popen`` as ``commands.Popen``)."""
    module, _, attr = name.rpartition('.')
    if (module, attr) in _compat_pickle.NAME_MAPPING:
        return '.'.join(_compat_pickle.NAME_MAPPING[(module, attr)])
    return f'{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attr}'


def _unsafe_globals(path: str) -> List[str]:
    """What a checkpoint needs beyond torch's allow-list."""
    if zipfile.is_zipfile(path):
        try:
            names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith('.pkl')]
                names = _disallowed(sum((_pickle_globals(archive.read(n)) for n in pickles), []))
    else:
        with open(path, 'rb') as f:
            names = _disallowed(_pickle_globals(f.read()))
    return list(dict.fromkeys(_python3_name(n) for n in names))


_DAMAGED = 'copy or download it again (compare its size or checksum with the source)'


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def _safetensors_device(map_location: MapLocation) -> str:
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


def _read_safetensors(path: str, map_location: MapLocation) -> Dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    head = _head(path, 4)
    if head == _ZIP_MAGIC or head[:1] == bytes([_PICKLE_PROTO]):
        kind = 'zip' if head == _ZIP_MAGIC else 'pickle'
        raise CheckpointFormatError(
            f'{path} is named .safetensors but holds a PyTorch {kind} checkpoint, not '
            'safetensors; rename it to end in .pth (it is then read with weights_only=True).'
        )
    try:
        return load_file(path, device=_safetensors_device(map_location))
    except SafetensorError as error:
        raise CheckpointFormatError(
            f'{path} is not a complete safetensors file ({error}); it is truncated or damaged: '
            f'{_DAMAGED}.'
        ) from None


def _read_torch_file(path: str, map_location: MapLocation) -> Any:
    head = _head(path, 4)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        needed = _unsafe_globals(path)
        if needed:
            raise UnsafeCheckpointError(
                f'Refusing to load {path}: reading it with weights_only=True would need '
                f'{", ".join(needed)}, which is not a tensor or container type, so unpickling it '
                'could run code. Do not load this file; ask its source for the weights as '
                '.safetensors or as a plain state dict (torch.save(model.state_dict(), ...)).'
            ) from None
        if 'truncated' in str(error):
            raise CheckpointFormatError(f'{path} is truncated or damaged: {_DAMAGED}.') from None
        if head[:1] == bytes([_PICKLE_PROTO]) and head != _ZIP_MAGIC:
            raise CheckpointFormatError(
                f'{path} is a plain pickle, not a file written by torch.save or safetensors; '
                'save the weights with torch.save(state_dict, ...) or as .safetensors.'
            ) from None
        raise UnsafeCheckpointError(
            f'Refusing to load {path}: it cannot be read with weights_only=True '
            f'({_unpickler_reason(str(error))}). Ask its source for the weights as .safetensors '
            'or as a plain state dict.'
        ) from None
    except (EOFError, RuntimeError) as error:
        damaged = ('PytorchStreamReader', 'unexpected EOF', 'corrupt')
        if isinstance(error, EOFError) or any(sign in str(error) for sign in damaged):
            raise CheckpointFormatError(f'{path} is truncated or damaged: {_DAMAGED}.') from None
        raise


def _unpickler_reason(message: str) -> str:
    """The line of torch's long weights_only error that names the cause."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith('WeightsUnpickler error:'):
            rest = line.split(':', 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else 'unknown reason')
        if line.startswith('Trying to load unsupported'):
            return line
    return 'unknown reason'


def read_checkpoint(path: Union[str, os.PathLike], map_location: MapLocation = 'cpu') -> Any:
    """Read a weight file of any supported kind without running code from it.

    Args:
        path: A safetensors file (by name or header), a TorchScript archive,
            or any file written by ``torch.save``.
        map_location: Device to load tensors onto, as in ``torch.load``.
            For safetensors only a device (string or ``torch.device``) is
            used; other forms load to the CPU.

    Returns:
        The stored object: a dict of tensors for safetensors and TorchScript
        archives, usually a dict (``state_dict``, ``meta``, ...) for torch
        checkpoints.

    Raises:
        FileNotFoundError: no such file.
        CheckpointFormatError: an empty, truncated or misnamed file.
        UnsafeCheckpointError: the file needs globals that are not
            allow-listed, i.e. it would run code when unpickled.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file; check the path.')
    if os.path.getsize(path) == 0:
        raise CheckpointFormatError(
            f'{path} is empty (0 bytes), not a checkpoint; copy or download it again.'
        )
    if path.endswith('.safetensors') or _has_safetensors_header(path):
        return _read_safetensors(path, map_location)
    if is_torchscript_archive(path):
        try:
            return read_torchscript_state_dict(path)
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as error:
            raise CheckpointFormatError(
                f'{path} is truncated or damaged ({error}): {_DAMAGED}.'
            ) from None
    return _read_torch_file(path, map_location)


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix that (Distributed)DataParallel adds."""
    return OrderedDict(
        (k[len('module.') :] if k.startswith('module.') else k, v) for k, v in state.items()
    )


def state_dict_of(obj: Any, source: str = 'the checkpoint') -> Dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint, without ``module.``.

    Unwraps the first of :data:`STATE_DICT_WRAPPERS` that holds a dict.
    """
    for wrapper in STATE_DICT_WRAPPERS:
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise CheckpointFormatError(f'{source} holds a {type(obj).__name__}, not a state dict.')
    return strip_module_prefix(obj)


def read_state_dict(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """Read a weight file of any supported format into a flat state dict (CPU)."""
    path = os.fspath(path)
    return state_dict_of(read_checkpoint(path), source=path)


def _mmengine_local_loader(filename: str, map_location: MapLocation) -> Any:
    return read_checkpoint(os.path.expanduser(filename), map_location)


def use_for_mmengine() -> bool:
    """Make MMEngine read local checkpoints with :func:`read_checkpoint`.

    MMEngine's own local loader calls ``torch.load`` directly: an empty file
    gives a bare ``EOFError``, a malicious one torch's advice to turn
    ``weights_only`` off, and safetensors cannot be read. Registering this
    reader for local paths gives ``load_from``, ``--resume``,
    ``init_recognizer`` and the Inferencers the same reader and messages.

    Returns True when the loader was registered (False if already).
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    if CheckpointLoader._schemes.get('') is _mmengine_local_loader:
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)
    return True
