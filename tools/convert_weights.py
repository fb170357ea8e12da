"""Convert the authors' TDS-CLIP checkpoints or CLIP weights for this plugin.

Usage:
    python tools/convert_weights.py SRC DST [--kind auto|official|clip]
        [--config CONFIG] [--arch ARCH] [--num-segments T] [--no-verify]

* An authors' checkpoint (``{'epoch', 'model_state_dict',
  'optimizer_state_dict'}``, keys ``visual.*`` / ``fc.*``, with or without
  ``module.``) becomes an MMEngine checkpoint ``{'meta', 'state_dict'}``
  holding the whole recognizer, frozen CLIP included, for ``load_from``,
  ``tools/test.py CONFIG DST`` or ``mim test ... --checkpoint DST``. The
  architecture read off the shapes is printed with the shipped configs that
  match it.
* CLIP weights (OpenAI's TorchScript ``.pt``, open_clip ``.bin`` / ``.pt`` /
  ``.safetensors``, mmpretrain CLIP ViT) become the visual tower's state
  dict that ``FrozenCLIPViT(pretrained=DST)`` loads: ``.safetensors`` when DST
  ends with it, a ``.pth`` state dict otherwise.

``--config`` / ``--arch`` state what the weights must be; a file for another
architecture is refused with the mismatch named. Unless ``--no-verify``, the
result is loaded strictly into a freshly built model before it is written.
Files are read with ``torch.load(weights_only=True)``, safetensors or a
code-free TorchScript reader: no pickled code is ever run.
"""

import argparse
import copy
import glob
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert TDS-CLIP or CLIP weights for mmaction-tdsclip'
    )
    parser.add_argument('src', help="authors' TDS-CLIP checkpoint, or CLIP weights")
    parser.add_argument('dst', help='output file (.pth; .safetensors for CLIP weights)')
    parser.add_argument(
        '--kind',
        choices=['auto', 'official', 'clip'],
        default='auto',
        help='what SRC is (default: detected)',
    )
    parser.add_argument('--config', help='a model config the weights must fit (refused otherwise)')
    parser.add_argument('--arch', help='the backbone arch the weights must have, e.g. ViT-B/16')
    parser.add_argument(
        '--num-segments',
        type=int,
        default=8,
        help='T used to build the model that verifies an official conversion (T is not '
        'stored in the weights; any T loads)',
    )
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip loading the result into a freshly built model',
    )
    return parser.parse_args(argv)


def fail(message: str) -> None:
    sys.exit(f'convert_weights: error: {message}')


def detect_kind(path: str) -> str:
    """``'official'`` for an authors' TDS-CLIP file, ``'clip'`` otherwise."""
    from mmaction_tdsclip.models.backbones.clip_weights import is_torchscript_archive
    from mmaction_tdsclip.models.recognizers.official_checkpoint import is_official_checkpoint

    if is_torchscript_archive(path):
        return 'clip'
    return 'official' if is_official_checkpoint(load_weights(path)) else 'clip'


def load_weights(path: str):
    """Load a pickle-based or safetensors file without running code from it."""
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        fail(
            f'{path} cannot be read with weights_only=True (unpickling it would run code from the '
            f'file, which this tool refuses): {err}'
        )


def arch_dims(arch, img_size: Optional[int] = None) -> Dict[str, int]:
    """Width, depth, patch and resolution of a backbone arch (preset name or dict)."""
    from mmaction_tdsclip.models.backbones.frozen_clip_vit import resolve_arch

    dims = resolve_arch(arch)
    dims['img_size'] = img_size or dims.get('img_size', 224)
    return dims


def dims_mismatch(found: Dict, wanted: Dict, source: str) -> List[str]:
    return [
        f'{name}: {source} {wanted[name]}, weights {found[name]}'
        for name in ('embed_dims', 'num_layers', 'patch_size', 'img_size')
        if found[name] != wanted[name]
    ]


def shipped_configs() -> List[str]:
    found = glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    return sorted(path for path in found if '_base_' not in osp.relpath(path, ROOT).split(osp.sep))


def matching_configs(info: Dict) -> List[Tuple[str, int]]:
    """Shipped configs whose model the weights fit, with their T."""
    from mmengine.config import Config

    from mmaction_tdsclip.models.recognizers.official_checkpoint import config_mismatches

    found = []
    for path in shipped_configs():
        try:
            model = Config.fromfile(path).get('model')
        except Exception:  # a config that does not parse is simply not a match
            continue
        if not model or model.get('type') != 'TDSCLIPRecognizer':
            continue
        if not config_mismatches(info, model):
            found.append((osp.relpath(path, ROOT), model['neck'].get('num_segments', 8)))
    return found


def load_model_config(path: str) -> Dict:
    from mmengine.config import Config

    model = Config.fromfile(path).get('model')
    if not model:
        fail(f'{path} has no model config')
    return model


def build_model(model_cfg: Dict):
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registration)

    init_default_scope('mmaction')
    return MODELS.build(model_cfg)


def convert_official(args: argparse.Namespace) -> None:
    from mmaction_tdsclip.datasets.annotations import authors_class_order_note
    from mmaction_tdsclip.models.backbones.clip_weights import CheckpointFormatError
    from mmaction_tdsclip.models.recognizers.official_checkpoint import (
        config_mismatches,
        convert_official_state_dict,
        describe_config,
        infer_official_config,
        recognizer_model_config,
    )

    obj = load_weights(args.src)
    try:
        info = infer_official_config(obj)
        state = convert_official_state_dict(obj)
    except CheckpointFormatError as err:
        fail(f'{args.src}: {err}')
    print(f"Authors' TDS-CLIP checkpoint: {describe_config(info)}")
    note = authors_class_order_note(info['num_classes'])  # which label numbering fits
    if note:
        print(note)

    if args.arch:
        wanted = arch_dims(args.arch)
        problems = dims_mismatch(info, wanted, f'--arch {args.arch}')
        if problems:
            fail(f'{args.src} does not fit --arch {args.arch}: ' + '; '.join(problems))
    model_cfg = None
    if args.config:
        model_cfg = load_model_config(args.config)
        problems = config_mismatches(info, model_cfg)
        if problems:
            fail(f'{args.src} does not fit {args.config}: ' + '; '.join(problems))
    else:
        matches = matching_configs(info)
        if matches:
            print('Shipped configs for this architecture (pick the one with your T):')
            for path, frames in matches:
                print(f'  {path}  (T = {frames})')
        else:
            print('No shipped config matches this architecture; a model config that does:')
            print(f'  model = {recognizer_model_config(info, args.num_segments)}')

    if not args.no_verify:
        verify_cfg = (
            copy.deepcopy(model_cfg)
            if model_cfg
            else recognizer_model_config(info, args.num_segments)
        )
        # The checkpoint carries the CLIP weights: do not read the config's CLIP file.
        verify_cfg['backbone'].update(pretrained=None, open_clip_model=None)
        model = build_model(verify_cfg)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            fail(f'the converted weights do not load into the model: {err}')

    epoch = obj.get('epoch') if isinstance(obj, dict) else None
    meta = dict(
        converted_from=osp.basename(args.src),
        source_format="TDS-CLIP authors' checkpoint",
        source_epoch=epoch if isinstance(epoch, int) else None,
        architecture=info,
    )
    save_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(save_dir, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state), args.dst)
    print(
        f'Wrote {len(state)} tensors to {args.dst} (MMEngine checkpoint: use it as load_from or '
        'tools/test.py CONFIG CHECKPOINT).'
    )


def convert_clip(args: argparse.Namespace) -> None:
    from mmaction_tdsclip.models.backbones.clip_weights import (
        CheckpointFormatError,
        load_visual_state_dict,
    )
    from mmaction_tdsclip.models.backbones.frozen_clip_vit import FrozenCLIPViT
    from mmaction_tdsclip.models.recognizers.official_checkpoint import (
        convert_clip_weights,
        describe_clip_state_dict,
    )

    try:
        state = convert_clip_weights(args.src)
    except CheckpointFormatError as err:
        fail(str(err))
    found = describe_clip_state_dict(state)
    name = found['arch'] or 'custom'
    print(
        f'CLIP visual tower: {name} (width {found["embed_dims"]}, {found["num_layers"]} blocks, patch '
        f'{found["patch_size"]}, {found["img_size"]}x{found["img_size"]}), '
        f'{len(state)} tensors, dtype {state["conv1.weight"].dtype}.'
    )

    # Heads are not stored in weights; a custom tower is verified with 64-wide heads.
    backbone_arch = found['arch'] or dict(
        embed_dims=found['embed_dims'],
        num_layers=found['num_layers'],
        num_heads=max(found['embed_dims'] // 64, 1),
        patch_size=found['patch_size'],
    )
    backbone_img = found['img_size']
    checks = []
    if args.arch:
        checks.append((f'--arch {args.arch}', args.arch, None))
    if args.config:
        backbone = load_model_config(args.config).get('backbone', {})
        checks.append((args.config, backbone.get('arch', 'ViT-B/16'), backbone.get('img_size')))
    for source, arch, img_size in checks:
        wanted = arch_dims(arch, img_size)
        # Positions are resized on load, so only the resolution may differ.
        problems = [p for p in dims_mismatch(found, wanted, source) if not p.startswith('img_size')]
        if problems:
            fail(f'{args.src} does not fit {source}: ' + '; '.join(problems))
        backbone_arch, backbone_img = arch, img_size

    if not args.no_verify:
        model = FrozenCLIPViT(backbone_arch, img_size=backbone_img)
        try:
            load_visual_state_dict(model, dict(state), source=args.src)
        except CheckpointFormatError as err:
            fail(str(err))

    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    if args.dst.endswith('.safetensors'):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, args.dst)
    else:
        torch.save(dict(state), args.dst)
    print(f'Wrote {args.dst}: set model.backbone.pretrained to it.')


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        fail(f'{args.src} does not exist')
    kind = detect_kind(args.src) if args.kind == 'auto' else args.kind
    if kind == 'official':
        convert_official(args)
    else:
        convert_clip(args)


if __name__ == '__main__':
    main()
