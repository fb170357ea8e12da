"""Converting the authors' released TDS-CLIP checkpoints.

The authors release ``{'epoch', 'model_state_dict', 'optimizer_state_dict'}``
files whose ``model_state_dict`` holds ``visual.*`` (the frozen CLIP tower and
the side network, OpenAI's names plus ``side_*`` entries) and ``fc.*`` (the
classifier), possibly behind a ``module.`` prefix. These plain functions map
such a state dict onto :class:`TDSCLIPRecognizer`'s keys (``backbone.*``,
``neck.*``, ``cls_head.fc_cls.*``), read the architecture off the tensor
shapes, and compare it with a model config.

Files are read by :mod:`mmaction_tdsclip.weights.reader`, which never
unpickles code.
"""

import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from ..constants import CLIP_MEAN, CLIP_STD
from .clip import UNUSED_VISUAL_KEYS, match_arch_preset
from .reader import CheckpointFormatError, strip_module_prefix

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_AFFINE = r'(weight|bias)'
_BLOCK = r'visual\.transformer\.side_transformer\.(\d+)\.'

# (authors' key pattern, our key template): every key of a released file
# matches exactly one pattern.
KEY_RULES: List[Tuple[str, str]] = [
    (r'visual\.conv1\.weight', 'backbone.conv1.weight'),
    (r'visual\.class_embedding', 'backbone.class_embedding'),
    (r'visual\.positional_embedding', 'backbone.positional_embedding'),
    (r'visual\.ln_pre\.' + _AFFINE, r'backbone.ln_pre.\1'),
    (
        r'visual\.transformer\.resblocks\.(\d+)\.((?:ln_1|ln_2|attn\.out_proj|mlp\.c_fc|mlp\.c_proj)\.(?:weight|bias)'
        r'|attn\.in_proj_weight|attn\.in_proj_bias)',
        r'backbone.transformer.resblocks.\1.\2',
    ),
    (r'visual\.side_conv1\.' + _AFFINE, r'neck.stem_conv.\1'),
    (r'visual\.side_pre_bn3d\.' + _BN, r'neck.stem_norm.\1'),
    (r'visual\.side_conv1_c5\.' + _AFFINE, r'neck.sme.conv.\1'),
    (r'visual\.side_pre_bn3d_c5\.' + _BN, r'neck.sme.bn.\1'),
    (r'visual\.side_post_bn\.' + _BN, r'neck.post_norm.\1'),
    (r'visual\.transformer\.side_lns\.(\d+)\.' + _AFFINE, r'neck.projections.\1.norm.\2'),
    (r'visual\.transformer\.side_linears\.(\d+)\.' + _AFFINE, r'neck.projections.\1.linear.\2'),
    (r'visual\.transformer\.side_spatial_position_embeddings', 'neck.pos_embed'),
    (_BLOCK + r'mse\.(conv1|conv2)\.weight', r'neck.blocks.\1.td_adapter.\2.weight'),
    (_BLOCK + r'mse\.(bn1|bn2)\.' + _BN, r'neck.blocks.\1.td_adapter.\2.\3'),
    (
        _BLOCK + r'((?:bn_1|bn_2)\.(?:weight|bias|running_mean|running_var|num_batches_tracked)'
        r'|conv\.[012]\.(?:weight|bias)|(?:ln_1|attn\.out_proj|mlp\.fc1|mlp\.fc2)\.(?:weight|bias)'
        r'|attn\.in_proj_weight|attn\.in_proj_bias)',
        r'neck.blocks.\1.\2',
    ),
    (r'fc\.' + _AFFINE, r'cls_head.fc_cls.\1'),
]
_COMPILED_RULES = [(re.compile(pattern + r'\Z'), template) for pattern, template in KEY_RULES]

# CLIP's projection head: released files may carry it, the side network never uses it.
IGNORED_KEYS = tuple('visual.' + key for key in UNUSED_VISUAL_KEYS)

# Keys whose presence tells a TDS-CLIP side network from a plain CLIP tower.
_SIDE_MARKERS = ('visual.side_conv1.weight', 'visual.transformer.side_spatial_position_embeddings')


def official_model_state(obj) -> Dict[str, torch.Tensor]:
    """The model state dict of an authors' file (or of a bare state dict), without ``module.``."""
    if isinstance(obj, Mapping) and isinstance(obj.get('model_state_dict'), Mapping):
        obj = obj['model_state_dict']
    if not isinstance(obj, Mapping):
        raise CheckpointFormatError(f'Expected a checkpoint dict, got a {type(obj).__name__}.')
    return strip_module_prefix(obj)


def is_official_checkpoint(obj) -> bool:
    """True for an authors' TDS-CLIP checkpoint or its model state dict.

    Accepts the ``{'epoch', 'model_state_dict', 'optimizer_state_dict'}``
    file as loaded, or a bare state dict, with or without ``module.``.
    """
    try:
        state = official_model_state(obj)
    except CheckpointFormatError:
        return False
    return any(marker in state for marker in _SIDE_MARKERS)


def _indices(state: Mapping[str, torch.Tensor], prefix: str) -> List[int]:
    found = {
        int(m.group(1)) for k in state for m in [re.match(re.escape(prefix) + r'(\d+)\.', k)] if m
    }
    return sorted(found)


def _require(state: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointFormatError(
            f"Not a TDS-CLIP checkpoint in the authors' layout: {key!r} is missing."
        )
    return state[key]


def infer_official_config(state: Mapping) -> Dict:
    """Read the architecture of an authors' checkpoint off its tensor shapes.

    Args:
        state: The loaded file or its ``model_state_dict``.

    Returns:
        A dict of plain values: ``arch`` (a preset name of
        :class:`FrozenCLIPViT`, or a dict for other sizes; heads are not
        stored in weights, so a custom arch assumes 64-wide heads),
        ``embed_dims``, ``num_layers``, ``patch_size``, ``img_size``,
        ``side_dim``, ``num_local_frames`` (None when there is no SME-Adapter:
        then any window size fits the weights), ``use_sme``, ``use_td``,
        ``td_layers`` (None when every block has a TD-Adapter),
        ``td_reduction`` and ``num_classes``. ``num_segments`` is absent: T is
        not in the weights, every T loads.

    Raises:
        CheckpointFormatError: when essential keys are missing or shapes
            disagree with each other.
    """
    state = official_model_state(state)
    conv1 = _require(state, 'visual.conv1.weight')
    pos = _require(state, 'visual.positional_embedding')
    stem = _require(state, 'visual.side_conv1.weight')
    side_pos = _require(state, 'visual.transformer.side_spatial_position_embeddings')
    fc = _require(state, 'fc.weight')

    embed_dims, patch_size = conv1.shape[0], conv1.shape[-1]
    num_tokens = pos.shape[0] - 1
    grid = int(round(num_tokens**0.5))
    if grid * grid != num_tokens:
        raise CheckpointFormatError(
            f'visual.positional_embedding has {num_tokens} patch positions, not a square grid.'
        )
    img_size = grid * patch_size
    num_layers = len(_indices(state, 'visual.transformer.resblocks.'))
    side_blocks = _indices(state, 'visual.transformer.side_transformer.')
    side_dim = stem.shape[0]
    if side_blocks != list(range(num_layers)):
        raise CheckpointFormatError(
            f'The checkpoint has side blocks {side_blocks} for {num_layers} CLIP blocks; '
            'the authors attach one side block to every CLIP block.'
        )
    if tuple(side_pos.shape) != (num_tokens, side_dim):
        raise CheckpointFormatError(
            f'side_spatial_position_embeddings has shape {tuple(side_pos.shape)}, '
            f'expected ({num_tokens}, {side_dim}).'
        )

    use_sme = 'visual.side_conv1_c5.weight' in state
    num_local_frames = None
    if use_sme:
        in_channels = state['visual.side_conv1_c5.weight'].shape[1]
        if in_channels % 3:
            raise CheckpointFormatError(
                f'visual.side_conv1_c5 has {in_channels} input channels; expected 3 per '
                'frame difference.'
            )
        num_local_frames = in_channels // 3 + 1
    td_blocks = [
        i
        for i in side_blocks
        if f'visual.transformer.side_transformer.{i}.mse.conv1.weight' in state
    ]
    use_td = bool(td_blocks)
    td_reduction = None
    if use_td:
        hidden = state[
            f'visual.transformer.side_transformer.{td_blocks[0]}.mse.conv1.weight'
        ].shape[0]
        td_reduction = side_dim // hidden

    preset = match_arch_preset(embed_dims, num_layers, patch_size, img_size)
    arch = preset or dict(
        embed_dims=embed_dims,
        num_layers=num_layers,
        num_heads=max(embed_dims // 64, 1),
        patch_size=patch_size,
    )
    return dict(
        arch=arch,
        embed_dims=int(embed_dims),
        num_layers=int(num_layers),
        patch_size=int(patch_size),
        img_size=int(img_size),
        side_dim=int(side_dim),
        num_local_frames=num_local_frames,
        use_sme=use_sme,
        use_td=use_td,
        td_layers=None if td_blocks == side_blocks else td_blocks,
        td_reduction=td_reduction,
        num_classes=int(fc.shape[0]),
    )


def describe_config(info: Mapping) -> str:
    """One line naming the architecture :func:`infer_official_config` found."""
    arch = (
        info['arch']
        if isinstance(info['arch'], str)
        else (
            f'custom ViT (width {info["embed_dims"]}, {info["num_layers"]} blocks, patch {info["patch_size"]})'
        )
    )
    n = info['num_local_frames']
    parts = [
        f'backbone {arch} at {info["img_size"]}x{info["img_size"]}',
        f'side width {info["side_dim"]}',
        f'SME-Adapter {"on, n = " + str(n) + " local frames" if info["use_sme"] else "off (any n)"}',
        'TD-Adapter '
        + (
            'off'
            if not info['use_td']
            else 'on'
            if info['td_layers'] is None
            else f'on in blocks {info["td_layers"]}'
        )
        + (f', reduction {info["td_reduction"]}' if info['use_td'] else ''),
        f'{info["num_classes"]} classes',
    ]
    return ', '.join(parts) + '; T (frames) is not stored in the weights.'


def convert_official_state_dict(state: Mapping) -> Dict[str, torch.Tensor]:
    """Rename an authors' state dict to :class:`TDSCLIPRecognizer`'s keys.

    Args:
        state: The loaded file (``{'model_state_dict': ...}``) or a bare
            state dict, with or without the ``module.`` prefix.

    Returns:
        An ordered state dict with ``backbone.*``, ``neck.*`` and
        ``cls_head.fc_cls.*`` keys, tensors unchanged (CLIP's unused
        ``ln_post`` / ``proj`` are dropped).

    Raises:
        CheckpointFormatError: listing keys no rule knows, and keys that the
            architecture read off the shapes needs but the file lacks.
    """
    state = official_model_state(state)
    info = infer_official_config(state)
    out: Dict[str, torch.Tensor] = OrderedDict()
    unknown = []
    for key, value in state.items():
        if key in IGNORED_KEYS:
            continue
        for pattern, template in _COMPILED_RULES:
            match = pattern.match(key)
            if match:
                out[match.expand(template)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointFormatError(
            f'{len(unknown)} keys of the checkpoint are not part of TDS-CLIP as released: '
            f'{unknown[:10]}{" ..." if len(unknown) > 10 else ""}.'
        )
    missing = sorted(expected_recognizer_keys(info) - set(out))
    if missing:
        raise CheckpointFormatError(
            f'The checkpoint lacks {len(missing)} keys that its architecture needs: '
            f'{missing[:10]}{" ..." if len(missing) > 10 else ""}.'
        )
    return out


def expected_recognizer_keys(info: Mapping) -> set:
    """Our recognizer's state-dict keys for an architecture from :func:`infer_official_config`."""
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    affine = ('weight', 'bias')
    keys = {
        'backbone.conv1.weight',
        'backbone.class_embedding',
        'backbone.positional_embedding',
        'neck.pos_embed',
    }
    keys |= {f'backbone.ln_pre.{s}' for s in affine}
    keys |= {f'neck.stem_conv.{s}' for s in affine} | {f'neck.stem_norm.{s}' for s in bn}
    keys |= {f'neck.post_norm.{s}' for s in bn} | {f'cls_head.fc_cls.{s}' for s in affine}
    if info['use_sme']:
        keys |= {f'neck.sme.conv.{s}' for s in affine} | {f'neck.sme.bn.{s}' for s in bn}
    td_layers = range(info['num_layers']) if info['td_layers'] is None else info['td_layers']
    for i in range(info['num_layers']):
        block = f'backbone.transformer.resblocks.{i}.'
        keys |= {block + 'attn.in_proj_weight', block + 'attn.in_proj_bias'}
        keys |= {
            f'{block}{m}.{s}'
            for m in ('ln_1', 'ln_2', 'attn.out_proj', 'mlp.c_fc', 'mlp.c_proj')
            for s in affine
        }
        keys |= {f'neck.projections.{i}.{m}.{s}' for m in ('norm', 'linear') for s in affine}
        side = f'neck.blocks.{i}.'
        keys |= {side + 'attn.in_proj_weight', side + 'attn.in_proj_bias'}
        keys |= {f'{side}{m}.{s}' for m in ('bn_1', 'bn_2') for s in bn}
        keys |= {
            f'{side}{m}.{s}'
            for m in ('conv.0', 'conv.1', 'conv.2', 'ln_1', 'attn.out_proj', 'mlp.fc1', 'mlp.fc2')
            for s in affine
        }
        if info['use_td'] and i in td_layers:
            keys |= {f'{side}td_adapter.conv1.weight', f'{side}td_adapter.conv2.weight'}
            keys |= {f'{side}td_adapter.{m}.{s}' for m in ('bn1', 'bn2') for s in bn}
    return keys


def recognizer_model_config(
    info: Mapping, num_segments: int = 8, num_local_frames: Optional[int] = None
) -> Dict:
    """A ``TDSCLIPRecognizer`` model config for an inferred architecture.

    Args:
        info: From :func:`infer_official_config`.
        num_segments: ``T`` (not stored in the weights).
        num_local_frames: ``n`` when the weights leave it open (no
            SME-Adapter); defaults to 1 then.
    """
    n = info['num_local_frames'] or num_local_frames or 1
    neck = dict(
        type='TDSSideNetwork',
        num_segments=num_segments,
        num_local_frames=n,
        side_dim=info['side_dim'],
        use_td=info['use_td'],
        use_sme=info['use_sme'],
    )
    if info['use_td']:
        neck.update(td_reduction=info['td_reduction'])
        if info['td_layers'] is not None:
            neck.update(td_layers=list(info['td_layers']))
    return dict(
        type='TDSCLIPRecognizer',
        backbone=dict(type='FrozenCLIPViT', arch=info['arch'], img_size=info['img_size']),
        neck=neck,
        cls_head=dict(
            type='TDSHead', num_classes=info['num_classes'], in_channels=info['side_dim']
        ),
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=list(CLIP_MEAN),
            std=list(CLIP_STD),
            format_shape='NCTHW',
        ),
    )


def config_mismatches(info: Mapping, model_cfg: Mapping) -> List[str]:
    """How a ``TDSCLIPRecognizer`` model config differs from an inferred architecture.

    Returns:
        Human-readable mismatches (empty when the weights fit the config).
        Fields a config may leave at the module defaults are compared with
        those defaults (``num_local_frames=5``, ``side_dim=320``,
        ``use_td``/``use_sme`` True, ``td_reduction=16``).
    """
    backbone = model_cfg.get('backbone', {})
    neck = model_cfg.get('neck', {})
    head = model_cfg.get('cls_head', {}) or {}
    problems = []
    if backbone.get('type', 'FrozenCLIPViT') != 'FrozenCLIPViT':
        problems.append(
            f'backbone type: config {backbone.get("type")}, weights FrozenCLIPViT (OpenAI layout)'
        )
    arch = backbone.get('arch', 'ViT-B/16')
    if isinstance(arch, str):
        # Imported here: the backbone module imports this package to load its weights.
        from ..models.backbones.frozen_clip_vit import ARCH_PRESETS

        preset = ARCH_PRESETS.get(arch)
        if preset is None:
            return [f'unknown backbone arch {arch!r}']
        dims = dict(preset)
    else:
        dims = dict(arch)
    img_size = backbone.get('img_size') or dims.get('img_size', 224)
    for name, want in (
        ('embed_dims', info['embed_dims']),
        ('num_layers', info['num_layers']),
        ('patch_size', info['patch_size']),
    ):
        if dims.get(name) != want:
            problems.append(f'backbone {name}: config {dims.get(name)}, weights {want}')
    if img_size != info['img_size']:
        problems.append(
            f'backbone img_size: config {img_size}, weights {info["img_size"]} (positional '
            'embeddings; the side position embedding cannot be resized)'
        )
    checks = [
        ('neck.side_dim', neck.get('side_dim', 320), info['side_dim']),
        (
            'neck.use_sme',
            neck.get('use_sme', True) and neck.get('num_local_frames', 5) > 1,
            info['use_sme'],
        ),
        ('neck.use_td', neck.get('use_td', True), info['use_td']),
        ('cls_head.num_classes', head.get('num_classes'), info['num_classes']),
    ]
    if info['use_sme']:
        checks.append(
            ('neck.num_local_frames', neck.get('num_local_frames', 5), info['num_local_frames'])
        )
    if info['use_td']:
        checks.append(('neck.td_reduction', neck.get('td_reduction', 16), info['td_reduction']))
        checks.append(('neck.td_layers', neck.get('td_layers'), info['td_layers']))
        # The released TD-Adapter pools; 'direct' would load the same tensors and compute something else.
        checks.append(('neck.td_mode', neck.get('td_mode', 'pool'), 'pool'))
    for name, config_value, weights_value in checks:
        if config_value != weights_value:
            problems.append(f'{name}: config {config_value}, weights {weights_value}')
    return problems
