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
The work is done by :mod:`mmaction_tdsclip.weights.convert`; files are read
by :mod:`mmaction_tdsclip.weights.reader`, which never runs pickled code.
"""

import argparse
import glob
import os
import os.path as osp
import sys
from typing import List, Optional

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


def shipped_configs() -> List[str]:
    found = glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    return sorted(path for path in found if '_base_' not in osp.relpath(path, ROOT).split(osp.sep))


def convert_official(args: argparse.Namespace) -> None:
    import torch

    from mmaction_tdsclip.datasets.annotations import authors_class_order_note
    from mmaction_tdsclip.weights.authors import describe_config, recognizer_model_config
    from mmaction_tdsclip.weights.convert import convert_official_file, matching_configs

    info, checkpoint = convert_official_file(
        args.src, args.config, args.arch, args.num_segments, verify=not args.no_verify
    )
    print(f"Authors' TDS-CLIP checkpoint: {describe_config(info)}")
    note = authors_class_order_note(info['num_classes'])  # which label numbering fits
    if note:
        print(note)
    if not args.config:
        matches = matching_configs(info, shipped_configs())
        if matches:
            print('Shipped configs for this architecture (pick the one with your T):')
            for path, frames in matches:
                print(f'  {osp.relpath(path, ROOT)}  (T = {frames})')
        else:
            print('No shipped config matches this architecture; a model config that does:')
            print(f'  model = {recognizer_model_config(info, args.num_segments)}')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(checkpoint, args.dst)
    print(
        f'Wrote {len(checkpoint["state_dict"])} tensors to {args.dst} (MMEngine checkpoint: use '
        'it as load_from or tools/test.py CONFIG CHECKPOINT).'
    )


def convert_clip(args: argparse.Namespace) -> None:
    from mmaction_tdsclip.weights.convert import convert_clip_file, save_state_dict

    found, state = convert_clip_file(args.src, args.config, args.arch, verify=not args.no_verify)
    print(
        f'CLIP visual tower: {found["arch"] or "custom"} (width {found["embed_dims"]}, '
        f'{found["num_layers"]} blocks, patch {found["patch_size"]}, '
        f'{found["img_size"]}x{found["img_size"]}), {len(state)} tensors, '
        f'dtype {state["conv1.weight"].dtype}.'
    )
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    save_state_dict(state, args.dst)
    print(f'Wrote {args.dst}: set model.backbone.pretrained to it.')


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    from mmaction_tdsclip.weights import CheckpointFormatError
    from mmaction_tdsclip.weights.convert import detect_kind

    try:
        if not osp.isfile(args.src):
            raise FileNotFoundError(f'{args.src} does not exist')
        kind = detect_kind(args.src) if args.kind == 'auto' else args.kind
        if kind == 'official':
            convert_official(args)
        else:
            convert_clip(args)
    except (CheckpointFormatError, FileNotFoundError) as err:
        sys.exit(f'convert_weights: error: {err}')


if __name__ == '__main__':
    main()
