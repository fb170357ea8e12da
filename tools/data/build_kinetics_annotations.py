"""Kinetics video lists for MMAction2's VideoDataset.

Reads the official CSVs (``label,youtube_id,time_start,time_end,split``, an
extra ``is_cc`` column is ignored), names each clip
``<youtube_id>_<start:06d>_<end:06d>.mp4`` and writes

    <out-dir>/kinetics<N>_train_list_videos.txt   "<file> <label>"
    <out-dir>/kinetics<N>_val_list_videos.txt
    <out-dir>/kinetics<N>_label_map.txt            one class per line

Labels index the sorted class names of the training CSV. With --train-dir /
--val-dir, clips missing there (deleted YouTube videos) are left out.

Example:
    python tools/data/build_kinetics_annotations.py \\
        data/kinetics400/annotations/train.csv \\
        data/kinetics400/annotations/validate.csv --out-dir data/kinetics400 \\
        --train-dir data/kinetics400/videos_train \\
        --val-dir data/kinetics400/videos_val
"""

import argparse
import os.path as osp

from mmaction_tdsclip.datasets.annotations import (
    build_kinetics_video_list,
    kinetics_class_names,
    read_kinetics_csv,
    write_label_map,
    write_video_list,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Build Kinetics video lists from the official CSVs.'
    )
    parser.add_argument('train_csv')
    parser.add_argument('val_csv')
    parser.add_argument('--out-dir', default='data/kinetics400')
    parser.add_argument(
        '--prefix', default=None, help='file name prefix; default kinetics<#classes>'
    )
    parser.add_argument('--train-dir', default=None, help='leave out training clips missing here')
    parser.add_argument('--val-dir', default=None, help='leave out validation clips missing here')
    parser.add_argument('--ext', default='mp4')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    train_rows = read_kinetics_csv(args.train_csv)
    val_rows = read_kinetics_csv(args.val_csv)
    names = kinetics_class_names(train_rows)
    unknown = {row['label'] for row in val_rows} - set(names)
    if unknown:
        raise SystemExit(f'validation classes not in the training CSV: {sorted(unknown)[:5]}')
    prefix = args.prefix or f'kinetics{len(names)}'
    write_label_map(names, osp.join(args.out_dir, f'{prefix}_label_map.txt'))
    for split, rows, video_dir in (
        ('train', train_rows, args.train_dir),
        ('val', val_rows, args.val_dir),
    ):
        entries, missing = build_kinetics_video_list(rows, names, video_dir, args.ext)
        out = osp.join(args.out_dir, f'{prefix}_{split}_list_videos.txt')
        write_video_list(entries, out)
        print(
            f'{out}: {len(entries)} videos'
            + (f', {len(missing)} missing from {video_dir} left out' if missing else '')
        )
    print(f'{len(names)} classes -> {osp.join(args.out_dir, prefix + "_label_map.txt")}')


if __name__ == '__main__':
    main()
