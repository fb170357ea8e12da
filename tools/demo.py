"""Classify one video with a trained TDS-CLIP model and print the top-k.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]
        [--device cpu] [--topk 5] [--cfg-options k=v ...]
        [--filename-tmpl img_{:05d}.jpg] [--out-filename out.mp4] [--fps 30]

VIDEO is a video file or a folder of numbered frames (``img_00001.jpg``,
``00001.jpg``...: the config's ``filename_tmpl`` when the folder has such
files, else the numbering found in it, or ``--filename-tmpl``). The
config's test pipeline (all its clips and crops) is used, with only its
loading steps swapped between video files and frame folders. The checkpoint
is read without running code stored in it and loaded strictly: a checkpoint
of another architecture is refused. When it holds the frozen CLIP weights
(``backbone.*``, what TDS-CLIP training saves) the config's CLIP file is not
needed; otherwise the tower comes from ``model.backbone.pretrained``.
``--out-filename`` writes the video with the top-k classes drawn on it.
The work is done by :mod:`mmaction_tdsclip.apis`.
"""

import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

import mmaction_tdsclip  # noqa: F401  (registers the plugin)
from mmaction_tdsclip.apis import init_tdsclip_recognizer, predict_topk, write_labelled_video
from mmaction_tdsclip.apis.inference import frame_folder_layout
from mmaction_tdsclip.weights import CheckpointFormatError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Top-k classes of one video with a TDS-CLIP model')
    parser.add_argument('video', help='video file or frame folder')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--label-map', default=None, help='class names, one per line (line i = label i)'
    )
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. model.backbone.precision=fp16',
    )
    parser.add_argument(
        '--filename-tmpl',
        help='frame file names in a frame folder, e.g. img_{:05d}.jpg (default: detected)',
    )
    parser.add_argument(
        '--out-filename', help='write the video with the top-k classes drawn (.mp4 or .avi)'
    )
    parser.add_argument(
        '--fps', type=float, help="frame rate of --out-filename (default: the input's, or 30)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        model = init_tdsclip_recognizer(args.config, args.checkpoint, args.device, args.cfg_options)
    except (CheckpointFormatError, FileNotFoundError) as err:
        sys.exit(f'demo: error: {err}')
    ranked = predict_topk(model, args.video, args.topk, args.label_map, args.filename_tmpl)
    print(f'Top-{len(ranked)} for {args.video}:')
    for rank, (name, score) in enumerate(ranked, 1):
        print(f'{rank:>2}. {score:.4f}  {name}')
    if args.out_filename:
        layout = None
        if osp.isdir(args.video):
            layout = frame_folder_layout(model.cfg, args.video, args.filename_tmpl)
        count = write_labelled_video(args.video, ranked, args.out_filename, args.fps, layout)
        print(f'Wrote {count} frames with the top-{len(ranked)} drawn to {args.out_filename}')


if __name__ == '__main__':
    main()
