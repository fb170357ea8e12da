"""Reading CLIP visual weights into :class:`FrozenCLIPViT`.

Plain functions, one per source format:

* OpenAI's TorchScript archives (``ViT-B-16.pt``) are read with a restricted
  unpickler that only rebuilds tensors and plain containers: the archive's
  TorchScript code is never compiled or run.
* open_clip checkpoints (``.bin``, ``.pt``: ``torch.load(weights_only=True)``;
  ``.safetensors``), with or without a ``state_dict`` wrapper or a
  ``module.`` prefix.
* mmpretrain CLIP ViT checkpoints (``patch_embed.projection``, ``layers.{i}``).
* Plain state dicts in OpenAI's layout, with or without ``visual.``.
"""

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

# Keys of a CLIP visual tower that the side network never uses.
UNUSED_VISUAL_KEYS = ('ln_post.weight', 'ln_post.bias', 'proj')

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
    """A weight file that is not in a format or architecture we can load."""


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
        raise pickle.UnpicklingError(
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


def read_weight_file(path: str) -> Dict[str, torch.Tensor]:
    """Read a weight file of any supported format into a flat state dict.

    Pickle-based files are read with ``torch.load(weights_only=True)``, so a
    file whose unpickling would run code is refused.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIP weight file not found: {path}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        return load_file(path)
    if is_torchscript_archive(path):
        return read_torchscript_state_dict(path)
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointFormatError(
            f'{path} cannot be loaded with weights_only=True (it would need to run code from '
            f'the file, which we refuse): {err}'
        ) from err
    for wrapper in ('state_dict', 'model_state_dict', 'model', 'module'):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f'{path} holds a {type(obj).__name__}, not a state dict.')
    return obj


def convert_mmpretrain_vit(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an mmpretrain CLIP ``VisionTransformer`` state dict to OpenAI's layout.

    mmpretrain stores ``pos_embed`` as ``(1, N+1, W)`` and ``cls_token`` as
    ``(1, 1, W)``; qkv is packed like ``in_proj``.
    """
    out = OrderedDict()
    for key, value in state.items():
        key = key[len('backbone.') :] if key.startswith('backbone.') else key
        parts = key.split('.')
        if key == 'cls_token':
            out['class_embedding'] = value.reshape(-1)
        elif key == 'pos_embed':
            out['positional_embedding'] = value.reshape(-1, value.shape[-1])
        elif key.startswith('patch_embed.projection.'):
            out['conv1.' + parts[-1]] = value
        elif key.startswith('pre_norm.'):
            out['ln_pre.' + parts[-1]] = value
        elif key.startswith('layers.'):
            i, rest = parts[1], '.'.join(parts[2:])
            mapping = {
                'ln1': 'ln_1',
                'ln2': 'ln_2',
                'attn.qkv.weight': 'attn.in_proj_weight',
                'attn.qkv.bias': 'attn.in_proj_bias',
                'attn.proj': 'attn.out_proj',
                'ffn.layers.0.0': 'mlp.c_fc',
                'ffn.layers.1': 'mlp.c_proj',
            }
            for src, dst in mapping.items():
                if rest == src or rest.startswith(src + '.'):
                    out[f'transformer.resblocks.{i}.{dst}{rest[len(src) :]}'] = value
                    break
            else:
                out[key] = value
        elif key.startswith('ln1.') or key.startswith('head.'):
            continue  # final norm / classifier: not used by the side network
        else:
            out[key] = value
    return out


def extract_visual_state_dict(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reduce any supported state dict to the frozen tower's own keys."""
    state = OrderedDict(
        (k[len('module.') :] if k.startswith('module.') else k, v) for k, v in state.items()
    )
    if any(k.startswith('visual.') for k in state):
        state = OrderedDict(
            (k[len('visual.') :], v) for k, v in state.items() if k.startswith('visual.')
        )
    elif any(
        k.startswith('backbone.conv1') or k.startswith('backbone.transformer.') for k in state
    ):
        state = OrderedDict(
            (k[len('backbone.') :], v) for k, v in state.items() if k.startswith('backbone.')
        )
    if any(k.startswith('patch_embed.') or k.startswith('backbone.patch_embed.') for k in state):
        state = convert_mmpretrain_vit(state)
    # TDS-CLIP checkpoints keep the side network inside ``visual``.
    return OrderedDict(
        (k, v) for k, v in state.items() if k not in UNUSED_VISUAL_KEYS and 'side_' not in k
    )


def describe_visual_state_dict(
    state: Dict[str, torch.Tensor],
) -> Tuple[Optional[int], int, Optional[int]]:
    """Width, depth and patch size a visual state dict was made for."""
    width = state['conv1.weight'].shape[0] if 'conv1.weight' in state else None
    patch = state['conv1.weight'].shape[-1] if 'conv1.weight' in state else None
    depth = len({k.split('.')[2] for k in state if k.startswith('transformer.resblocks.')})
    return width, depth, patch


def resize_positional_embedding(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """Bicubically resize ``(N0+1, W)`` positions to a ``grid x grid`` patch grid."""
    cls, patches = pos[:1], pos[1:]
    old = int(round(patches.shape[0] ** 0.5))
    patches = patches.reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    patches = F.interpolate(patches, size=(grid, grid), mode='bicubic', align_corners=False)
    return torch.cat([cls.float(), patches.permute(0, 2, 3, 1).reshape(grid * grid, -1)]).to(
        pos.dtype
    )


def load_visual_state_dict(
    model, state: Dict[str, torch.Tensor], source: str = 'state dict'
) -> None:
    """Strictly load a visual state dict into a :class:`FrozenCLIPViT`.

    Raises:
        CheckpointFormatError: naming the architecture mismatch, or the
            missing / unexpected keys.
    """
    state = extract_visual_state_dict(state)
    width, depth, patch = describe_visual_state_dict(state)
    if (width, depth, patch) != (model.embed_dims, model.num_layers, model.patch_size):
        raise CheckpointFormatError(
            f'{source} holds a ViT of width {width}, {depth} blocks, patch {patch}, but the backbone '
            f'is arch {model.arch_name!r} (width {model.embed_dims}, {model.num_layers} blocks, patch '
            f'{model.patch_size}). Set backbone.arch to match the weights.'
        )
    pos = state.get('positional_embedding')
    if pos is not None and pos.shape[0] != model.positional_embedding.shape[0]:
        state['positional_embedding'] = resize_positional_embedding(pos, model.grid_size[0])
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointFormatError(
            f'{source} does not match FrozenCLIPViT: missing keys {missing[:8]}'
            f'{" ..." if len(missing) > 8 else ""}, unexpected keys {unexpected[:8]}'
            f'{" ..." if len(unexpected) > 8 else ""}.'
        )
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise CheckpointFormatError(
                f'{source}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}.'
            )
    model.load_state_dict(state, strict=True)


def load_clip_visual_weights(model, path: str) -> None:
    """Load CLIP visual weights from a local file of any supported format."""
    load_visual_state_dict(model, read_weight_file(path), source=path)


def load_open_clip_by_name(model, name: str, pretrained: Optional[str]) -> None:
    """Take the visual weights of an open_clip model (downloaded if needed)."""
    import open_clip

    clip = open_clip.create_model(name, pretrained=pretrained, device='cpu')
    state = OrderedDict(('visual.' + k, v) for k, v in clip.visual.state_dict().items())
    load_visual_state_dict(model, state, source=f'open_clip {name}/{pretrained}')
