"""A recognizer from a config and a checkpoint, and its top-k on one video.

A video is a video file or a folder of numbered frames, whatever the config
was written for: only the loading steps of the config's test pipeline are
swapped (all its clips and crops are kept).
"""

import copy
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.config import Config

from ..datasets.annotations import count_frames, read_label_map
from ..weights import CheckpointMismatchError, read_checkpoint, state_dict_of

_RAW_DECODERS = ('TDSRawFrameDecode', 'RawFrameDecode')
_VIDEO_INITS = ('TDSDecordInit', 'DecordInit', 'TDSPyAVInit', 'PyAVInit', 'OpenCVInit')
_VIDEO_DECODERS = ('TDSDecordDecode', 'DecordDecode', 'TDSPyAVDecode', 'PyAVDecode', 'OpenCVDecode')
_NUMBERED = re.compile(r'^(?P<prefix>.*?)(?P<index>\d+)(?P<suffix>\.[A-Za-z0-9]+)$')


def init_tdsclip_recognizer(
    config: Union[str, Config],
    checkpoint: str,
    device: str = 'cpu',
    cfg_options: Optional[Dict] = None,
) -> torch.nn.Module:
    """The recognizer of ``config`` with the checkpoint's weights, in eval mode.

    Like MMAction2's ``init_recognizer``, but a checkpoint that holds the
    frozen CLIP weights (``backbone.*``, what training saves) makes the
    config's CLIP file unnecessary, and one without them takes the tower
    from ``model.backbone.pretrained``. The load is strict
    (:mod:`mmaction_tdsclip.weights.strict`): a checkpoint of another
    architecture is refused, naming every key and shape that differs.

    Args:
        config: Config file or object.
        checkpoint: Checkpoint file (read by :func:`read_checkpoint`).
        device: Where the model runs.
        cfg_options: Overrides merged into the config (``--cfg-options``).

    Returns:
        The model, with ``model.cfg`` set (as ``inference_recognizer`` needs).
    """
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    state = state_dict_of(read_checkpoint(checkpoint), source=checkpoint)
    if any(k.startswith('backbone.') for k in state):
        cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    try:
        model.load_state_dict(state)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f'{checkpoint}: {err}') from None
    model.cfg = cfg
    return model.to(device).eval()


def detect_filename_tmpl(folder: str) -> Tuple[str, int]:
    """The numbering of the frame files in ``folder``.

    The most common ``<prefix><number><ext>`` pattern wins (``img_00001.jpg``,
    ``00001.jpg``, ``frame_1.png``...).

    Returns:
        ``(filename_tmpl, start_index)``, e.g. ``('img_{:05d}.jpg', 1)``.

    Raises:
        FileNotFoundError: no numbered file in ``folder``.
    """
    groups: Dict[Tuple[str, str], List[str]] = {}
    for name in os.listdir(folder):
        match = _NUMBERED.match(name)
        if match:
            groups.setdefault((match['prefix'], match['suffix']), []).append(match['index'])
    if not groups:
        raise FileNotFoundError(
            f'{folder} holds no numbered frame files (such as img_00001.jpg); give --filename-tmpl.'
        )
    (prefix, suffix), numbers = max(groups.items(), key=lambda item: len(item[1]))
    # Zero padding shows as a leading zero ('00001'); a lone '0' shows nothing.
    width = max((len(n) for n in numbers if len(n) > 1 and n.startswith('0')), default=0)
    number = f'{{:0{width}d}}' if width else '{}'
    # Literal braces in a file name must survive str.format.
    prefix, suffix = (part.replace('{', '{{').replace('}', '}}') for part in (prefix, suffix))
    return prefix + number + suffix, min(int(n) for n in numbers)


def adapted_test_pipeline(cfg: Config, video: str) -> List[Dict]:
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


def frame_folder_layout(
    cfg: Config, folder: str, filename_tmpl: Optional[str] = None
) -> Tuple[str, int, int]:
    """``(filename_tmpl, start_index, total_frames)`` of a frame folder.

    The template is ``filename_tmpl`` when given, else the config's dataset
    template when the folder has frames named so, else the numbering found
    in the folder. Numbering starts at 0 or 1, whichever file exists.
    """
    dataset = cfg.test_dataloader.dataset
    tmpl = filename_tmpl or dataset.get('filename_tmpl', '{:05}.jpg')
    start = _first_index(folder, tmpl, dataset.get('start_index', 1))
    if filename_tmpl is None and count_frames(folder, tmpl, start) == 0:
        tmpl, start = detect_filename_tmpl(folder)
    total_frames = count_frames(folder, tmpl, start)
    if total_frames == 0:
        raise FileNotFoundError(
            f'no frames {tmpl.format(start)}... in {folder}; give the file names with '
            '--filename-tmpl (e.g. img_{:05d}.jpg).'
        )
    return tmpl, start, total_frames


def _first_index(folder: str, filename_tmpl: str, default: int) -> int:
    for start in (0, 1):
        if osp.isfile(osp.join(folder, filename_tmpl.format(start))):
            return start
    return default


def pipeline_input(cfg: Config, video: str, filename_tmpl: Optional[str] = None) -> Dict:
    """The test pipeline's input dict for a video file or a frame folder."""
    if not osp.isdir(video):
        return dict(filename=video, label=-1, start_index=0, modality='RGB')
    tmpl, start, total_frames = frame_folder_layout(cfg, video, filename_tmpl)
    return dict(
        frame_dir=video,
        total_frames=total_frames,
        filename_tmpl=tmpl,
        start_index=start,
        label=-1,
        modality='RGB',
        offset=0,
    )


def predict_topk(
    model: torch.nn.Module,
    video: str,
    topk: int = 5,
    label_map: Optional[str] = None,
    filename_tmpl: Optional[str] = None,
) -> List[Tuple[str, float]]:
    """``[(class name, score), ...]`` of the ``topk`` best classes of one video.

    Args:
        model: From :func:`init_tdsclip_recognizer` (``model.cfg`` is used).
        video: A video file or a frame folder.
        topk: How many classes.
        label_map: Class names, one per line; ``'class i'`` without.
        filename_tmpl: Frame file names in a folder (detected when None).
    """
    from mmaction.apis import inference_recognizer
    from mmengine.dataset import Compose

    cfg = model.cfg
    pipeline = Compose(adapted_test_pipeline(cfg, video))
    result = inference_recognizer(model, pipeline_input(cfg, video, filename_tmpl), pipeline)
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
