"""Something-Something V1 raw-frame lists for MMAction2's RawframeDataset.

Reads the official annotation files

    <anno-dir>/something-something-v1-labels.csv       one class per line
    <anno-dir>/something-something-v1-train.csv         "<id>;<class>"
    <anno-dir>/something-something-v1-validation.csv    "<id>;<class>"

counts the frames of <frame-root>/<id>/{:05}.jpg (numbered from 1) and writes

    <out-dir>/sthv1_train_list_rawframes.txt    "<id> <num_frames> <label>"
    <out-dir>/sthv1_val_list_rawframes.txt
    <out-dir>/sthv1_label_map.txt               one class per line

and prints the left/right flip map that fits the numbering.

--label-order chooses the numbering:

    csv      label i = line i of something-something-v1-labels.csv, as
             MMAction2's SSv1 recipes and the shipped SSv1 configs number
             them (flip map {2: 4, 30: 41, 52: 66} and back);
    authors  the SSv2 class order, as the TDS-CLIP authors number SSv1 (their
             one label file serves both datasets): the order an authors' SSv1
             checkpoint predicts in (flip map {86: 87, 93: 94, 166: 167} and
             back). The order ships with the plugin
             (mmaction_tdsclip/datasets/data/sth_class_order.txt); classes are
             matched by name, ignoring case, brackets and spacing.

Example:
    python tools/data/build_sthv1_annotations.py data/sthv1/annotations \\
        --frame-root data/sthv1/rawframes --out-dir data/sthv1
"""

import argparse
import os.path as osp

from mmaction_tdsclip.datasets.annotations import (
    SSV1_LABEL_ORDERS,
    build_sthv1_rawframe_list,
    derive_flip_label_map,
    read_sthv1_labels,
    write_label_map,
    write_rawframe_list,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Build SSv1 raw-frame lists from the official CSVs.'
    )
    parser.add_argument('anno_dir', help='folder of the official CSVs')
    parser.add_argument(
        '--frame-root', default='data/sthv1/rawframes', help='folder of the <id>/ frame folders'
    )
    parser.add_argument('--out-dir', default='data/sthv1')
    parser.add_argument('--filename-tmpl', default='{:05}.jpg')
    parser.add_argument(
        '--label-order',
        choices=SSV1_LABEL_ORDERS,
        default='csv',
        help="csv: line order of the labels CSV (the shipped SSv1 configs); authors: SSv2's "
        "order, which the authors' SSv1 checkpoints predict in",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    names = read_sthv1_labels(
        osp.join(args.anno_dir, 'something-something-v1-labels.csv'), args.label_order
    )
    write_label_map(names, osp.join(args.out_dir, 'sthv1_label_map.txt'))
    for split, out_split in (('train', 'train'), ('validation', 'val')):
        entries, missing = build_sthv1_rawframe_list(
            osp.join(args.anno_dir, f'something-something-v1-{split}.csv'),
            names,
            args.frame_root,
            args.filename_tmpl,
        )
        out = osp.join(args.out_dir, f'sthv1_{out_split}_list_rawframes.txt')
        write_rawframe_list(entries, out)
        print(
            f'{out}: {len(entries)} videos'
            + (f', {len(missing)} without frames left out (first: {missing[0]})' if missing else '')
        )
    print(
        f'{len(names)} classes in {args.label_order} order -> '
        f'{osp.join(args.out_dir, "sthv1_label_map.txt")}'
    )
    # The Flip transform of the training pipeline must use this map.
    print(f'flip_label_map = {derive_flip_label_map(names)}')


if __name__ == '__main__':
    main()
