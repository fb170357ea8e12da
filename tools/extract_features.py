"""Write the features of every video of a list, at one stage of a TDS-CLIP model.

    python tools/extract_features.py CONFIG CHECKPOINT OUT_DIR
        [--video-list LIST] [--video-root ROOT] [--stage {backbone,neck,head}]
        [--pool {none,avg}] [--skip-existing] [--device cpu] [--cfg-options K=V ...]

Each video goes through the config's test pipeline (all its clips and crops,
the views ``V``) and ``TDSCLIPRecognizer.extract_feat(stage=...)``; one
``OUT_DIR/<name>.npz`` is written per video, ``<name>`` being the video's path
relative to ``ROOT`` (``a/b.mp4`` gives ``OUT_DIR/a/b.mp4.npz``; a frame
folder's path for raw-frame configs). Arrays, float32:

- ``backbone``: the frozen CLIP tokens of each layer the side network reads,
  ``layer<l>``: ``(V, T, N+1, W)``, class token first;
- ``neck``: ``features``: the side features ``(V, D, T, h, w)``, or ``(V, D)``
  with ``--pool avg`` (the mean the head takes);
- ``head``: ``logits``: ``(V, num_classes)``.

``LIST`` has the test set's format (``<video> <label>`` for videos,
``<folder> <frames> <label>`` for frame folders; the label is not used) and
defaults to the config's test annotation file. The checkpoint is loaded with
MMAction2's ``init_recognizer``. A video that cannot be decoded is reported
and skipped; the command then exits with status 1 after the others.
See ``docs/model.md``, "Feature extraction".
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import numpy as np
import torch
from mmaction.apis import init_recognizer
from mmaction.registry import DATASETS
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import mmaction_tdsclip  # noqa: F401  (registers the plugin)
from mmaction_tdsclip.datasets import VideoDecodeError

STAGES = ('backbone', 'neck', 'head')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Per-video TDS-CLIP features')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint of the model')
    parser.add_argument('out_dir', help='where the .npz files go')
    parser.add_argument('--video-list', help="video list (default: the config's test list)")
    parser.add_argument('--video-root', help="video directory (default: the config's)")
    parser.add_argument('--stage', choices=STAGES, default='neck', help='default: neck')
    parser.add_argument(
        '--pool',
        choices=('none', 'avg'),
        default='none',
        help='neck stage: avg keeps the mean over time and space, (V, D)',
    )
    parser.add_argument(
        '--skip-existing', action='store_true', help='keep the files a previous run wrote'
    )
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, as in tools/test.py',
    )
    return parser.parse_args(argv)


def test_dataset_cfg(cfg: Config, video_list: Optional[str], video_root: Optional[str]) -> Dict:
    """The config's test dataset, pointed at another list and root when given."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:  # RepeatDataset and the like
        dataset = dataset.dataset
    dataset = dict(dataset, test_mode=True)
    if video_list is not None:
        dataset['ann_file'] = video_list
        dataset['data_root'] = None
    if video_root is not None:
        key = 'img' if dataset.get('type') == 'RawframeDataset' else 'video'
        dataset['data_prefix'] = dict(dataset.get('data_prefix') or {}, **{key: video_root})
    return dataset


def video_name(info: Dict, root: Optional[str]) -> str:
    """The path of a video (or frame folder) relative to the data root."""
    path = info.get('filename', info.get('frame_dir'))
    return osp.relpath(path, root) if root else path


def features_of(model: torch.nn.Module, data: Dict, stage: str, pool: str) -> Dict[str, np.ndarray]:
    """``{array name: array}`` of one video; see the module docstring for the shapes."""
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    with torch.inference_mode():
        feats, _ = model.extract_feat(batch['inputs'], stage=stage, test_mode=True)
    if stage == 'backbone':
        layers = model.neck.side_layers
        return {f'layer{layer}': t.float().cpu().numpy() for layer, t in zip(layers, feats)}
    if stage == 'neck':
        if pool == 'avg':
            feats = feats.flatten(2).mean(dim=2)
        return {'features': feats.float().cpu().numpy()}
    return {'logits': feats.float().cpu().numpy()}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    dataset_cfg = test_dataset_cfg(cfg, args.video_list, args.video_root)
    dataset = DATASETS.build(dataset_cfg)
    model = init_recognizer(cfg, args.checkpoint, device=args.device)
    prefix = dataset.data_prefix
    root = prefix.get('img') or prefix.get('video')

    failed = []
    progress = ProgressBar(len(dataset))
    for index in range(len(dataset)):
        name = video_name(dataset.get_data_info(index), root)
        out = osp.join(args.out_dir, name + '.npz')
        if not (args.skip_existing and osp.exists(out)):
            try:
                arrays = features_of(model, dataset[index], args.stage, args.pool)
            except VideoDecodeError as exc:
                failed.append(f'{name}: {exc}')
            else:
                os.makedirs(osp.dirname(out), exist_ok=True)
                # Written whole or not at all, so that --skip-existing never keeps a partial file.
                with open(out + '.part', 'wb') as f:
                    np.savez(f, **arrays)
                os.replace(out + '.part', out)
        progress.update()
    print(f'\n{len(dataset) - len(failed)} of {len(dataset)} videos written to {args.out_dir}')
    if failed:
        print(f'{len(failed)} could not be read:', *failed, sep='\n  ', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
