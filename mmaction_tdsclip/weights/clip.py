"""CLIP visual weights in :class:`FrozenCLIPViT`'s layout (OpenAI's names).

One function per source layout, all reduced to the frozen tower's own keys
(``conv1.weight``, ``transformer.resblocks.{i}...``) by
:func:`extract_visual_state_dict`:

* OpenAI's TorchScript archives (``ViT-B-16.pt``), read without running code;
* open_clip checkpoints (``.bin``, ``.pt``, ``.safetensors``), with or
  without a ``state_dict`` wrapper or a ``module.`` prefix;
* mmpretrain CLIP ViT checkpoints (``patch_embed.projection``, ``layers.{i}``);
* plain state dicts in OpenAI's layout, with or without ``visual.``.
"""

import os
from collections import OrderedDict
from typing import Dict, Mapping, Optional

import torch
import torch.nn.functional as F

from .reader import CheckpointFormatError, read_state_dict, strip_module_prefix

# Keys of a CLIP visual tower that the side network never uses (the pooled
# embedding's norm and projection).
UNUSED_VISUAL_KEYS = ('ln_post.weight', 'ln_post.bias', 'proj')


def convert_mmpretrain_vit(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
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


def extract_visual_state_dict(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Reduce any supported state dict to the frozen tower's own keys."""
    state = strip_module_prefix(state)
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


def match_arch_preset(
    embed_dims: int, num_layers: int, patch_size: int, img_size: int
) -> Optional[str]:
    """The :data:`ARCH_PRESETS` name with these dimensions, or None."""
    # Imported here: the backbone module imports this one to load its weights.
    from ..models.backbones.frozen_clip_vit import ARCH_PRESETS

    for name, preset in ARCH_PRESETS.items():
        dims = (preset['embed_dims'], preset['num_layers'], preset['patch_size'])
        if dims + (preset['img_size'],) == (embed_dims, num_layers, patch_size, img_size):
            return name
    return None


def describe_clip_state_dict(state: Mapping[str, torch.Tensor]) -> Dict:
    """What a visual state dict (OpenAI layout, no ``visual.``) was made for.

    Returns:
        ``embed_dims``, ``num_layers``, ``patch_size``, ``img_size`` (None
        where the keys that tell are missing) and ``arch``, the matching
        :data:`ARCH_PRESETS` name or None.
    """
    conv1 = state.get('conv1.weight')
    pos = state.get('positional_embedding')
    width = int(conv1.shape[0]) if conv1 is not None else None
    patch = int(conv1.shape[-1]) if conv1 is not None else None
    depth = len({k.split('.')[2] for k in state if k.startswith('transformer.resblocks.')})
    img_size = None
    if pos is not None and patch is not None:
        img_size = int(round((pos.shape[0] - 1) ** 0.5)) * patch
    return dict(
        embed_dims=width,
        num_layers=depth,
        patch_size=patch,
        img_size=img_size,
        arch=match_arch_preset(width, depth, patch, img_size),
    )


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
    model, state: Mapping[str, torch.Tensor], source: str = 'state dict'
) -> None:
    """Strictly load a visual state dict into a :class:`FrozenCLIPViT`.

    Positions are resized to the model's resolution. Afterwards
    ``model.weights_loaded_from`` names ``source`` (see
    :mod:`mmaction_tdsclip.weights.strict`).

    Raises:
        CheckpointFormatError: naming the architecture mismatch, or the
            missing / unexpected keys.
    """
    state = extract_visual_state_dict(state)
    found = describe_clip_state_dict(state)
    width, depth, patch = found['embed_dims'], found['num_layers'], found['patch_size']
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
    model.weights_loaded_from = source


def load_clip_visual_weights(model, path: str) -> None:
    """Load CLIP visual weights from a local file of any supported format."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIP weight file not found: {path}')
    load_visual_state_dict(model, read_state_dict(path), source=path)


def load_open_clip_by_name(model, name: str, pretrained: Optional[str]) -> None:
    """Take the visual weights of an open_clip model (downloaded if needed)."""
    import open_clip

    clip = open_clip.create_model(name, pretrained=pretrained, device='cpu')
    state = OrderedDict(('visual.' + k, v) for k, v in clip.visual.state_dict().items())
    load_visual_state_dict(model, state, source=f'open_clip {name}/{pretrained}')


def convert_clip_weights(path: str) -> Dict[str, torch.Tensor]:
    """Read CLIP weights of any supported format into :class:`FrozenCLIPViT`'s layout.

    Args:
        path: OpenAI's TorchScript ``.pt``, an open_clip ``.bin`` / ``.pt``
            / ``.safetensors``, an mmpretrain CLIP ViT, or a state dict.

    Returns:
        The visual tower's state dict without ``visual.`` (``conv1.weight``,
        ``transformer.resblocks.{i}...``), dtypes unchanged; ``ln_post`` and
        ``proj`` are dropped.

    Raises:
        CheckpointFormatError: when the file holds no CLIP visual tower.
    """
    state = extract_visual_state_dict(read_state_dict(path))
    if 'conv1.weight' not in state or not any(
        k.startswith('transformer.resblocks.') for k in state
    ):
        raise CheckpointFormatError(
            f'{path} holds no CLIP visual tower (no conv1.weight / '
            'transformer.resblocks.* after removing visual. and module.).'
        )
    return state


def load_mmpretrain_vit_weights(vit, path: str, prefix: str = 'backbone.') -> None:
    """Strictly load an mmpretrain ``VisionTransformer`` from a local file.

    Keys under ``prefix`` (an mmpretrain classifier's ``backbone.``) are
    taken when present, else the file's keys as they are.
    """
    state = read_state_dict(path)
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    vit.load_state_dict(state, strict=True)
