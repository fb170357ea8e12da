"""Something-Something V2 video lists for MMAction2's VideoDataset.

Reads the official annotation files

    <anno-dir>/something-something-v2-labels.json   {"<class>": "<index>"}
    <anno-dir>/something-something-v2-train.json    [{"id", "template", ...}]
    <anno-dir>/something-something-v2-validation.json

(a video's class is its template with the brackets removed:
"Putting [something] onto [something]" -> "Putting something onto something")
and writes

    <out-dir>/sthv2_train_list_videos.txt    "<id>.webm <label>"
    <out-dir>/sthv2_val_list_videos.txt
    <out-dir>/sthv2_label_map.txt            one class per line

Example:
    python tools/data/build_sthv2_annotations.py data/sthv2/annotations \\
        --out-dir data/sthv2 --flip-map
"""

import argparse
import os.path as osp

from mmaction_tdsclip.datasets.annotations import (
    build_sthv2_video_list,
    derive_flip_label_map,
    read_sthv2_labels,
    write_label_map,
    write_video_list,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Build SSv2 video lists from the official JSONs.')
    parser.add_argument('anno_dir', help='folder of the official JSONs')
    parser.add_argument('--out-dir', default='data/sthv2')
    parser.add_argument(
        '--ext', default='webm', help='video file extension (mp4 after re-encoding)'
    )
    parser.add_argument(
        '--flip-map',
        action='store_true',
        help='print the left/right flip label map derived from the class names',
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    names = read_sthv2_labels(osp.join(args.anno_dir, 'something-something-v2-labels.json'))
    write_label_map(names, osp.join(args.out_dir, 'sthv2_label_map.txt'))
    for split, out_split in (('train', 'train'), ('validation', 'val')):
        entries = build_sthv2_video_list(
            osp.join(args.anno_dir, f'something-something-v2-{split}.json'), names, args.ext
        )
        out = osp.join(args.out_dir, f'sthv2_{out_split}_list_videos.txt')
        write_video_list(entries, out)
        print(f'{out}: {len(entries)} videos')
    print(f'{len(names)} classes -> {osp.join(args.out_dir, "sthv2_label_map.txt")}')
    if args.flip_map:
        print(f'flip_label_map = {derive_flip_label_map(names)}')


if __name__ == '__main__':
    main()
