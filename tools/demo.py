"""Classify one video with a trained TDS-CLIP model and print the top-5.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]
                         [--device cpu] [--topk 5]

VIDEO is a video file or, for raw-frame configs (Something-Something V1), a
folder of numbered frames. The config's test pipeline (all its clips and
crops) is used; when the config reads frame folders and VIDEO is a file (or
the other way round) only the loading steps are swapped. The checkpoint is
loaded without running code stored in it (``weights_only=True``). When it
holds the frozen CLIP weights (``backbone.*``, what TDS-CLIP training
saves) the config's CLIP file is not needed; otherwise it is loaded from
``model.backbone.pretrained``.
"""

import argparse
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmaction.apis import inference_recognizer
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmaction_tdsclip  # noqa: F401  (registers the plugin)
from mmaction_tdsclip.datasets.annotations import count_frames, read_label_map
from mmaction_tdsclip.utils.checkpoint import load_checkpoint_safely

_RAW_DECODERS = ('TDSRawFrameDecode', 'RawFrameDecode')
_VIDEO_INITS = ('TDSDecordInit', 'DecordInit', 'TDSPyAVInit', 'PyAVInit', 'OpenCVInit')
_VIDEO_DECODERS = ('TDSDecordDecode', 'DecordDecode', 'TDSPyAVDecode', 'PyAVDecode', 'OpenCVDecode')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Top-5 classes of one video with a TDS-CLIP model')
    parser.add_argument('video', help='video file or frame folder')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--label-map', default=None, help='class names, one per line (line i = label i)'
    )
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--topk', type=int, default=5)
    return parser.parse_args(argv)


def _state_dict(checkpoint: Dict) -> Dict[str, torch.Tensor]:
    state = checkpoint.get('state_dict', checkpoint)
    return {(k[len('module.') :] if k.startswith('module.') else k): v for k, v in state.items()}


def build_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """The recognizer with the checkpoint's weights, in eval mode."""
    state = _state_dict(load_checkpoint_safely(checkpoint))
    has_backbone = any(k.startswith('backbone.') for k in state)
    if has_backbone:
        cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if has_backbone:
        problems = list(missing) + list(unexpected)
    else:
        problems = [k for k in missing if not k.startswith('backbone.')]
        problems += list(unexpected)
    if problems:
        raise RuntimeError(
            f'{checkpoint} does not match the model of the config: {problems[:5]} ...'
        )
    return model.to(device).eval()


def test_pipeline_for(cfg: Config, video: str) -> List[Dict]:
    """The config's test pipeline, with its loading steps adapted to a
    video file or a frame folder."""
    pipeline = [dict(t) for t in cfg.test_dataloader.dataset.pipeline]
    types = [t['type'] for t in pipeline]
    reads_frames = any(t in _RAW_DECODERS for t in types)
    if osp.isdir(video) and not reads_frames:
        pipeline = [t for t in pipeline if t['type'] not in _VIDEO_INITS]
        pipeline = [
            dict(type='TDSRawFrameDecode', test_mode=True) if t['type'] in _VIDEO_DECODERS else t
            for t in pipeline
        ]
    elif not osp.isdir(video) and reads_frames:
        pipeline = [dict(type='TDSDecordInit', test_mode=True)] + [
            dict(type='TDSDecordDecode', test_mode=True) if t['type'] in _RAW_DECODERS else t
            for t in pipeline
        ]
    return pipeline


def input_of(cfg: Config, video: str) -> Dict:
    """The pipeline's input dict for a file or a frame folder."""
    if not osp.isdir(video):
        return dict(filename=video, label=-1, start_index=0, modality='RGB')
    dataset = cfg.test_dataloader.dataset
    tmpl = dataset.get('filename_tmpl', '{:05}.jpg')
    start = dataset.get('start_index', 1)
    num_frames = count_frames(video, tmpl, start)
    if num_frames == 0:
        raise FileNotFoundError(f'no frames {tmpl.format(start)}... in {video}')
    return dict(
        frame_dir=video,
        total_frames=num_frames,
        filename_tmpl=tmpl,
        start_index=start,
        label=-1,
        modality='RGB',
        offset=0,
    )


def predict(
    video: str,
    config: str,
    checkpoint: str,
    device: str = 'cpu',
    label_map: Optional[str] = None,
    topk: int = 5,
) -> List[tuple]:
    """``[(class name, score), ...]`` of the ``topk`` best classes."""
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = build_model(cfg, checkpoint, device)
    pipeline = Compose(test_pipeline_for(cfg, video))
    result = inference_recognizer(model, input_of(cfg, video), pipeline)
    scores = result.pred_score.float().cpu()
    names = read_label_map(label_map) if label_map else None
    if names is not None and len(names) != scores.numel():
        raise ValueError(
            f'{label_map} names {len(names)} classes, the model predicts {scores.numel()}'
        )
    top = torch.topk(scores, min(topk, scores.numel()))
    return [
        (names[i] if names else f'class {i}', float(s))
        for s, i in zip(top.values.tolist(), top.indices.tolist())
    ]


def main(argv=None) -> None:
    args = parse_args(argv)
    ranked = predict(
        args.video, args.config, args.checkpoint, args.device, args.label_map, args.topk
    )
    print(f'Top-{len(ranked)} for {args.video}:')
    for rank, (name, score) in enumerate(ranked, 1):
        print(f'{rank:>2}. {score:.4f}  {name}')


if __name__ == '__main__':
    main()
