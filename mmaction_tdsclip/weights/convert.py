"""File-to-file conversions behind ``tools/convert_weights.py``.

Each conversion reads a file with :mod:`.reader`, checks it against what the
caller says the weights must be (a model config, a backbone arch), loads the
result strictly into a freshly built model, and only then lets it be saved.
"""

import copy
import os.path as osp
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch

from .authors import (
    config_mismatches,
    convert_official_state_dict,
    infer_official_config,
    is_official_checkpoint,
    recognizer_model_config,
)
from .clip import convert_clip_weights, describe_clip_state_dict, load_visual_state_dict
from .reader import CheckpointFormatError, is_torchscript_archive, read_checkpoint


def detect_kind(path: str) -> str:
    """``'official'`` for an authors' TDS-CLIP file, ``'clip'`` otherwise."""
    if is_torchscript_archive(path):
        return 'clip'
    return 'official' if is_official_checkpoint(read_checkpoint(path)) else 'clip'


def arch_dims(arch: Union[str, Dict], img_size: Optional[int] = None) -> Dict[str, int]:
    """Width, depth, patch and resolution of a backbone arch (preset name or dict)."""
    # Imported here: the backbone module imports this package to load its weights.
    from ..models.backbones.frozen_clip_vit import resolve_arch

    dims = resolve_arch(arch)
    dims['img_size'] = img_size or dims.get('img_size', 224)
    return dims


def dims_mismatch(found: Mapping, wanted: Mapping, source: str) -> List[str]:
    """``'name: <source> x, weights y'`` for each backbone dimension that differs."""
    return [
        f'{name}: {source} {wanted[name]}, weights {found[name]}'
        for name in ('embed_dims', 'num_layers', 'patch_size', 'img_size')
        if found[name] != wanted[name]
    ]


def model_config_of(path: str) -> Dict:
    """The ``model`` dict of a config file."""
    from mmengine.config import Config

    model = Config.fromfile(path).get('model')
    if not model:
        raise CheckpointFormatError(f'{path} has no model config.')
    return model


def matching_configs(info: Mapping, config_paths: Iterable[str]) -> List[Tuple[str, int]]:
    """The configs among ``config_paths`` whose recognizer the weights fit, with their T."""
    from mmengine.config import Config

    found = []
    for path in config_paths:
        try:
            model = Config.fromfile(path).get('model')
        except Exception:  # a config that does not parse is simply not a match
            continue
        if not model or model.get('type') != 'TDSCLIPRecognizer':
            continue
        if not config_mismatches(info, model):
            found.append((path, model['neck'].get('num_segments', 8)))
    return found


def build_model(model_cfg: Mapping) -> torch.nn.Module:
    """A model from a config dict through MMAction2's registry."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registration)

    init_default_scope('mmaction')
    return MODELS.build(model_cfg)


def convert_official_file(
    src: str,
    config: Optional[str] = None,
    arch: Optional[str] = None,
    num_segments: int = 8,
    verify: bool = True,
) -> Tuple[Dict, Dict]:
    """Convert an authors' checkpoint into an MMEngine checkpoint.

    Args:
        src: The authors' file.
        config: A config whose model the weights must fit.
        arch: A backbone arch the weights must have.
        num_segments: T of the model that verifies the result without a config.
        verify: Load the result strictly into a freshly built model.

    Returns:
        ``(info, checkpoint)``: the architecture read off the shapes (see
        :func:`infer_official_config`) and ``{'meta', 'state_dict'}``.

    Raises:
        CheckpointFormatError: naming what does not fit.
    """
    obj = read_checkpoint(src)
    try:
        info = infer_official_config(obj)
        state = convert_official_state_dict(obj)
    except CheckpointFormatError as err:
        raise CheckpointFormatError(f'{src}: {err}') from None
    if arch:
        problems = dims_mismatch(info, arch_dims(arch), f'--arch {arch}')
        if problems:
            raise CheckpointFormatError(f'{src} does not fit --arch {arch}: ' + '; '.join(problems))
    model_cfg = None
    if config:
        model_cfg = model_config_of(config)
        problems = config_mismatches(info, model_cfg)
        if problems:
            raise CheckpointFormatError(f'{src} does not fit {config}: ' + '; '.join(problems))
    if verify:
        verify_cfg = copy.deepcopy(model_cfg or recognizer_model_config(info, num_segments))
        # The checkpoint carries the CLIP weights: do not read the config's CLIP file.
        verify_cfg['backbone'].update(pretrained=None, open_clip_model=None)
        build_model(verify_cfg).load_state_dict(state, strict=True)
    epoch = obj.get('epoch') if isinstance(obj, dict) else None
    meta = dict(
        converted_from=osp.basename(src),
        source_format="TDS-CLIP authors' checkpoint",
        source_epoch=epoch if isinstance(epoch, int) else None,
        architecture=info,
    )
    return info, dict(meta=meta, state_dict=state)


def convert_clip_file(
    src: str,
    config: Optional[str] = None,
    arch: Optional[str] = None,
    verify: bool = True,
) -> Tuple[Dict, Dict[str, torch.Tensor]]:
    """Reduce CLIP weights of any supported format to the visual tower.

    Args:
        src: OpenAI's TorchScript ``.pt``, open_clip, mmpretrain, state dict.
        config: A config whose backbone the tower must fit.
        arch: A backbone arch the tower must have.
        verify: Load the result strictly into a freshly built tower.

    Returns:
        ``(found, state)``: :func:`describe_clip_state_dict` of the tower and
        its state dict (dtypes kept).

    Raises:
        CheckpointFormatError: naming what does not fit. Only the resolution
            may differ (positions are resized on load).
    """
    from ..models.backbones.frozen_clip_vit import FrozenCLIPViT

    state = convert_clip_weights(src)
    found = describe_clip_state_dict(state)
    # Heads are not stored in weights; a custom tower is verified with 64-wide heads.
    backbone_arch = found['arch'] or dict(
        embed_dims=found['embed_dims'],
        num_layers=found['num_layers'],
        num_heads=max(found['embed_dims'] // 64, 1),
        patch_size=found['patch_size'],
    )
    backbone_img = found['img_size']
    checks = []
    if arch:
        checks.append((f'--arch {arch}', arch, None))
    if config:
        backbone = model_config_of(config).get('backbone', {})
        checks.append((config, backbone.get('arch', 'ViT-B/16'), backbone.get('img_size')))
    for source, wanted_arch, img_size in checks:
        problems = [
            p
            for p in dims_mismatch(found, arch_dims(wanted_arch, img_size), source)
            if not p.startswith('img_size')
        ]
        if problems:
            raise CheckpointFormatError(f'{src} does not fit {source}: ' + '; '.join(problems))
        backbone_arch, backbone_img = wanted_arch, img_size
    if verify:
        tower = FrozenCLIPViT(backbone_arch, img_size=backbone_img)
        load_visual_state_dict(tower, dict(state), source=src)
    return found, state


def save_state_dict(state: Mapping[str, torch.Tensor], dst: str) -> None:
    """``.safetensors`` when ``dst`` ends with it, a ``torch.save`` file otherwise."""
    if dst.endswith('.safetensors'):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, dst)
    else:
        torch.save(dict(state), dst)
