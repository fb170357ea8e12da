"""Catch TDS-CLIP config mistakes before any data is read.

:func:`check_tdsclip_config` compares the data pipelines and annotation files
with the model and reports each mismatch under the config field to change,
with the fix. Each of these otherwise surfaces late (a shape error deep in
the first forward, an index error in the loss mid-epoch) or never (a
training set with more classes than the head silently truncated by a
label-smoothing loss, a test crop the model rejects only at test time).

:class:`~mmaction_tdsclip.engine.hooks.TDSConfigCheckHook` runs it in
``before_run`` of every train / val / test run, whatever launched it (``mim
train``, ``tools/train.py``, the ``dist_*.sh`` scripts); tools can call it
right after loading a config, before the model is built.
"""

import inspect
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import MMLogger

from ..constants import HEAD_WIDTH
from ..datasets.annotation_lists import (
    RAWFRAME_LIST_TYPES,
    VIDEO_LIST_TYPES,
    AnnotationError,
    read_dataset_annotations,
    stock_video_list_problem,
)
from ..datasets.annotations import derive_flip_label_map, read_label_map
from ..models.backbones.frozen_clip_vit import ARCH_PRESETS
from ..window_layout import WindowLayout, check_num_local_frames

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Stock MMAction2 samplers whose ``clip_len`` is the frame count of a view.
CLIP_LEN_SAMPLERS = ('SampleFrames', 'DenseSampleFrames', 'UniformSample', 'UniformSampleFrames')
TDS_SAMPLER = 'SampleTDSFrames'
DEFAULT_IMG_SIZE = 224


class ConfigCheckError(ValueError):
    """A config that cannot train or test as written.

    Attributes:
        problems: ``(field, message)`` pairs, one per mistake.
    """

    def __init__(self, problems: Sequence[Tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = '\n'.join(f'  - {field}: {message}' for field, message in self.problems)
        super().__init__(f'The TDS-CLIP config has {len(self.problems)} problem(s):\n{lines}')


class _Report:
    """Collects errors and warnings, each under the field it concerns."""

    def __init__(self) -> None:
        self.errors: List[Tuple[str, str]] = []
        self.warnings: List[Tuple[str, str]] = []

    def error(self, field: str, message: str) -> None:
        self.errors.append((field, message))

    def warn(self, field: str, message: str) -> None:
        self.warnings.append((field, message))


def _finish(report: _Report, logger: Optional[MMLogger]) -> List[str]:
    """Log the warnings and return them as ``'field: message'``; raise the errors."""
    warnings = [f'{field}: {message}' for field, message in report.warnings]
    logger = logger or MMLogger.get_current_instance()
    for line in warnings:
        logger.warning(f'Config check: {line}')
    if report.errors:
        raise ConfigCheckError(report.errors)
    return warnings


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    if hasattr(cfg, 'get'):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def _type_name(cfg: Any) -> Optional[str]:
    kind = _get(cfg, 'type')
    if kind is None or isinstance(kind, str):
        return kind
    return getattr(kind, '__name__', None)


def _signature_default(registry, type_name: Optional[str], arg: str) -> Any:
    """The default of ``arg`` in the constructor of a registered class, or None."""
    if type_name is None:
        return None
    try:
        cls = registry.get(type_name)
    except Exception:  # a scope prefix or registry the caller's env lacks
        cls = None
    if cls is None:
        return None
    param = inspect.signature(cls.__init__).parameters.get(arg)
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


def _arg(cfg: Any, registry, arg: str) -> Any:
    """``cfg[arg]``, or the registered class's default when the config leaves it out."""
    value = _get(cfg, arg)
    return value if value is not None else _signature_default(registry, _type_name(cfg), arg)


def _pair_wh(value: Any) -> Optional[Tuple[int, int]]:
    """MMAction2's crop sizes: an int ``s`` or ``(w, h)``; returns ``(h, w)``."""
    if isinstance(value, int):
        return value, value
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return value[1], value[0]
    return None


# --------------------------------------------------------------------- model
class _ModelGeometry:
    """What the pipelines must produce, read from the model config."""

    def __init__(self, model: Any, report: _Report) -> None:
        from mmaction.registry import MODELS

        backbone, neck, head = _get(model, 'backbone'), _get(model, 'neck'), _get(model, 'cls_head')

        self.patch_size = self.img_size = None
        if _type_name(backbone) == 'FrozenCLIPViT':
            self._read_backbone(backbone, report, MODELS)

        self.num_segments = _arg(neck, MODELS, 'num_segments')
        self.num_local_frames = _arg(neck, MODELS, 'num_local_frames')
        self.side_dim = _arg(neck, MODELS, 'side_dim')
        self.layout: Optional[WindowLayout] = None
        if isinstance(self.num_local_frames, int):
            try:
                check_num_local_frames(self.num_local_frames)
            except ValueError as exc:
                report.error('model.neck.num_local_frames', str(exc))
            else:
                if isinstance(self.num_segments, int) and self.num_segments >= 1:
                    self.layout = WindowLayout(self.num_segments, self.num_local_frames)
        num_heads = _get(neck, 'num_heads')
        if isinstance(self.side_dim, int) and _type_name(neck) == 'TDSSideNetwork':
            if num_heads is None and self.side_dim % HEAD_WIDTH:
                lower = max(HEAD_WIDTH, self.side_dim // HEAD_WIDTH * HEAD_WIDTH)
                report.error(
                    'model.neck.side_dim',
                    f'side_dim={self.side_dim} does not split into {HEAD_WIDTH}-wide attention '
                    f'heads; use a multiple of {HEAD_WIDTH} (e.g. {lower} or {lower + HEAD_WIDTH}) '
                    'and the same model.cls_head.in_channels, or set model.neck.num_heads.',
                )
            elif isinstance(num_heads, int) and (num_heads < 1 or self.side_dim % num_heads):
                report.error(
                    'model.neck.num_heads',
                    f'num_heads={num_heads} does not divide side_dim={self.side_dim}.',
                )
        in_channels = _get(head, 'in_channels')
        if (
            head is not None
            and isinstance(self.side_dim, int)
            and in_channels not in (None, self.side_dim)
        ):
            report.error(
                'model.cls_head.in_channels',
                f'in_channels={in_channels} but the neck outputs model.neck.side_dim='
                f'{self.side_dim} channels; set in_channels={self.side_dim}.',
            )
        self.num_classes = _get(head, 'num_classes')

    def _read_backbone(self, backbone: Any, report: _Report, registry) -> None:
        arch = _arg(backbone, registry, 'arch')
        preset: Dict[str, int] = {}
        if isinstance(arch, str):
            if arch not in ARCH_PRESETS:
                report.error(
                    'model.backbone.arch',
                    f'{arch!r} is not a FrozenCLIPViT preset; use one of {sorted(ARCH_PRESETS)} '
                    'or a dict with embed_dims, num_layers, num_heads and patch_size.',
                )
                return
            preset = ARCH_PRESETS[arch]
        elif arch is not None and hasattr(arch, 'get'):
            preset = dict(arch)
            if 'patch_size' not in preset:
                report.error(
                    'model.backbone.arch.patch_size',
                    'a custom arch dict needs patch_size (and embed_dims, num_layers, num_heads).',
                )
                return
        else:
            report.error(
                'model.backbone.arch', f'{arch!r} is neither a preset name nor an arch dict.'
            )
            return
        self.patch_size = preset['patch_size']
        self.img_size = _get(backbone, 'img_size') or preset.get('img_size', DEFAULT_IMG_SIZE)
        if self.img_size % self.patch_size:
            lower = max(self.patch_size, self.img_size // self.patch_size * self.patch_size)
            report.error(
                'model.backbone.img_size',
                f'img_size={self.img_size} is not divisible by the patch size {self.patch_size}; '
                f'use a multiple of {self.patch_size} such as {lower} (and crop to it).',
            )
            self.img_size = None

    @property
    def frames_per_view(self) -> Optional[int]:
        return self.layout.frames_per_view if self.layout is not None else None


# ----------------------------------------------------------------- pipelines
def _leaf_datasets(dataset: Any, field: str) -> Iterator[Tuple[str, Any]]:
    """``(field, cfg)`` of every dataset that holds a pipeline, through wrappers."""
    if dataset is None:
        return
    if _get(dataset, 'pipeline') is not None or _get(dataset, 'ann_file') is not None:
        yield field, dataset
        return
    inner = _get(dataset, 'dataset')
    if inner is not None:  # RepeatDataset, ClassBalancedDataset
        yield from _leaf_datasets(inner, f'{field}.dataset')
    for i, sub in enumerate(_get(dataset, 'datasets') or []):  # ConcatDataset
        yield from _leaf_datasets(sub, f'{field}.datasets[{i}]')


def _flat_steps(pipeline: Sequence, field: str) -> Iterator[Tuple[str, Any]]:
    """``(field, step)`` of every transform in the order they run, inside
    wrappers too: a step that holds a ``transforms`` list (``RepeatAugment``,
    mmcv's ``RandomApply``, ...) is followed by its inner steps, named
    ``<field>[i].transforms[j]``."""
    for i, step in enumerate(pipeline or []):
        where = f'{field}[{i}]'
        yield where, step
        inner = _get(step, 'transforms')
        if isinstance(inner, (list, tuple)) and all(hasattr(t, 'get') for t in inner):
            yield from _flat_steps(inner, f'{where}.transforms')


def _check_sampling(pipeline: Sequence, field: str, geo: _ModelGeometry, report: _Report) -> None:
    from mmaction.registry import TRANSFORMS

    T, n, total = geo.num_segments, geo.num_local_frames, geo.frames_per_view
    fix = (
        f'the model takes model.neck.num_segments x model.neck.num_local_frames = {T} x {n} = '
        f'{total} frames per view'
    )
    found = False
    for i, step in enumerate(pipeline):
        kind = _type_name(step)
        where = f'{field}[{i}]'
        if kind == TDS_SAMPLER:
            found = True
            segments = _arg(step, TRANSFORMS, 'num_segments')
            local = _arg(step, TRANSFORMS, 'num_local_frames')
            if T is not None and segments != T:
                report.error(
                    f'{where}.num_segments',
                    f'{kind} samples num_segments={segments} but {fix}; set both to the same T.',
                )
            if n is not None and local != n:
                report.error(
                    f'{where}.num_local_frames',
                    f'{kind} samples windows of num_local_frames={local} but {fix}; set both to '
                    'the same n.',
                )
        elif kind in CLIP_LEN_SAMPLERS:
            found = True
            clip_len = _arg(step, TRANSFORMS, 'clip_len')
            if total is not None and clip_len != total:
                report.error(
                    f'{where}.clip_len',
                    f'{kind} gives clip_len={clip_len} frames but {fix}; set clip_len={total} '
                    f'or, better, use {TDS_SAMPLER}(num_segments={T}, num_local_frames={n}).',
                )
            elif isinstance(n, int) and n > 1:
                report.warn(
                    f'{where}.type',
                    f'{kind} gives the right count but not the TDS-CLIP layout ({T} windows of '
                    f'{n} consecutive frames centred on frames spread over the video): the '
                    f'model runs, its temporal adapters see another layout; use {TDS_SAMPLER}.',
                )
    if not found:
        report.warn(
            field,
            'no known frame-sampling transform; could not check that it yields '
            f'{total} frames per view ({TDS_SAMPLER} or {", ".join(CLIP_LEN_SAMPLERS)}).',
        )


def _crop_output(step: Any, kind: str) -> Tuple[bool, Optional[Tuple[int, int]], Optional[str]]:
    """Effect of one transform on the frame size.

    Returns:
        ``(changes_size, (h, w) or None when unknown, argument that sets it)``.
    """
    if kind == 'Resize':
        scale, keep_ratio = _get(step, 'scale'), _get(step, 'keep_ratio', True)
        if (
            not keep_ratio
            and isinstance(scale, (tuple, list))
            and len(scale) == 2
            and min(scale) > 0
        ):
            return True, (int(scale[1]), int(scale[0])), 'scale'
        return True, None, 'scale'
    if kind == 'RandomCrop':
        size = _get(step, 'size')
        return True, ((size, size) if isinstance(size, int) else None), 'size'
    if kind in (
        'CenterCrop',
        'ThreeCrop',
        'TenCrop',
        'LongSideThreeCrop',
        'TorchvisionCenterCrop',
        'FullResThreeCrop',
    ):
        return True, _pair_wh(_get(step, 'crop_size')), 'crop_size'
    if kind == 'PillowRandomSizedCrop':
        return True, _pair_wh(_get(step, 'size')), 'size'
    if kind == 'MultiScaleCrop':
        return True, _pair_wh(_get(step, 'input_size')), 'input_size'
    lowered = kind.lower()
    if any(word in lowered for word in ('crop', 'resize', 'rescale')):
        return (True, *_generic_output(step))
    return False, None, None


def _generic_output(step: Any) -> Tuple[Optional[Tuple[int, int]], Optional[str]]:
    """Output size of a crop / resize transform the check does not know by
    name, read from the arguments MMAction2's own transforms use.

    Returns:
        ``((h, w) or None when unknown, argument that sets it)``.
    """
    for arg in ('crop_size', 'input_size', 'size'):
        size = _pair_wh(_get(step, arg))
        if size is not None:
            return size, arg
    scale = _get(step, 'scale')
    if (
        _get(step, 'keep_ratio') is False
        and isinstance(scale, (tuple, list))
        and len(scale) == 2
        and min(scale) > 0
    ):
        return (int(scale[1]), int(scale[0])), 'scale'
    return None, None


def _check_size(pipeline: Sequence, field: str, geo: _ModelGeometry, report: _Report) -> None:
    if geo.img_size is None:
        return
    size: Optional[Tuple[int, int]] = None
    setter = None
    for where, step in _flat_steps(pipeline, field):
        kind = _type_name(step)
        if kind is None:
            continue
        changes, out, arg = _crop_output(step, kind)
        if changes:
            size = out
            setter = f'{where}.{arg}' if arg else where
    img, p = geo.img_size, geo.patch_size
    if setter is None or size is None:
        report.warn(
            setter or field,
            f'could not tell the frame size this pipeline outputs; it must be {img}x{img} '
            f'(model.backbone.img_size).',
        )
        return
    if size != (img, img):
        h, w = size
        why = (
            f'which is not divisible by the patch size {p}'
            if h % p or w % p
            else f"but the backbone's patch grid is built for {img}x{img}"
        )
        report.error(
            setter,
            f'the pipeline outputs {h}x{w} (HxW) frames {why}; crop to {img}x{img} here, or set '
            f'model.backbone.img_size to match a square crop that is a multiple of {p}.',
        )


def _check_format(pipeline: Sequence, field: str, report: _Report) -> None:
    for i, step in enumerate(pipeline):
        if _type_name(step) == 'FormatShape':
            fmt = _get(step, 'input_format')
            if fmt != 'NCTHW':
                report.error(
                    f'{field}[{i}].input_format',
                    f'input_format={fmt!r}; TDSCLIPRecognizer takes (B, views, 3, T*n, H, W) '
                    "clips: use FormatShape(input_format='NCTHW').",
                )
            return
    report.warn(
        field, "no FormatShape step; TDSCLIPRecognizer needs FormatShape(input_format='NCTHW')."
    )


# ------------------------------------------------------------------- labels
def _resolve_ann_file(dataset: Any) -> Optional[str]:
    ann_file = _get(dataset, 'ann_file')
    if not isinstance(ann_file, str) or not ann_file or '://' in ann_file:
        return None
    data_root = _get(dataset, 'data_root')
    if data_root and not osp.isabs(ann_file):
        ann_file = osp.join(data_root, ann_file)
    return ann_file if osp.isfile(ann_file) else None


def _read_labels(dataset: Any) -> List[int]:
    """Labels of every annotation: MMAction2's list formats through
    :func:`read_dataset_annotations` (malformed lines raise
    :class:`AnnotationError`), other datasets parsed by their own class."""
    from mmaction.registry import DATASETS

    entries = read_dataset_annotations(dataset)
    if entries is not None:
        return [label for entry in entries for label in entry['labels']]

    cfg = dict(dataset)
    # Parse the annotations only: no pipeline run, no full_init.
    cfg.update(lazy_init=True, pipeline=[])
    labels: List[int] = []
    for info in DATASETS.build(cfg).load_data_list():
        label = info.get('label')
        if label is None:
            continue
        if np.ndim(label) == 0:
            labels.append(int(label))
        else:  # multi-label datasets give a sequence or an array
            labels.extend(int(v) for v in np.ravel(label))
    return labels


def _cached_labels(dataset: Any, path: str, cache: Dict[str, Any]) -> Any:
    """:func:`_read_labels` once per file; the exception when it fails."""
    key = osp.realpath(path)
    if key not in cache:
        try:
            cache[key] = _read_labels(dataset)
        except Exception as exc:  # the dataset's own build will report it properly
            cache[key] = exc
    return cache[key]


def _check_labels(
    dataset: Any, field: str, geo: _ModelGeometry, report: _Report, cache: Dict[str, Any]
) -> None:
    num_classes = geo.num_classes
    path = _resolve_ann_file(dataset)
    if path is None:
        return
    labels = _cached_labels(dataset, path, cache)
    if isinstance(labels, AnnotationError):
        report.error(f'{field}.ann_file', str(labels))
        return
    if _type_name(dataset) == 'VideoDataset' and not isinstance(labels, Exception):
        problem = stock_video_list_problem(path, _get(dataset, 'delimiter', ' '))
        if problem:
            report.error(f'{field}.ann_file', problem)
            return
    if isinstance(labels, Exception):
        report.warn(f'{field}.ann_file', f'could not read the labels of {path}: {labels}')
        return
    if not labels or not isinstance(num_classes, int):
        return
    low, high, distinct = min(labels), max(labels), len(set(labels))
    if low < 0:
        report.error(
            f'{field}.ann_file', f'{path} has the negative label {low}; labels run from 0.'
        )
    if high >= num_classes:
        report.error(
            'model.cls_head.num_classes',
            f'num_classes={num_classes} but {field}.ann_file ({path}) has label {high}; set '
            f'num_classes to at least {high + 1}, or fix the annotation file.',
        )
    elif distinct < num_classes:
        report.warn(
            f'{field}.ann_file',
            f'{path} uses {distinct} distinct labels while model.cls_head.num_classes='
            f'{num_classes}; fine for a subset, otherwise a sign of a wrong annotation file or '
            'num_classes.',
        )


# ------------------------------------------- unlabelled lists, flip label maps
# Evaluators that do not compare predictions with labels.
LABEL_FREE_METRICS = ('DumpResults',)


def _label_metrics(evaluator: Any) -> List[str]:
    """Types of the metrics of an evaluator config that need labels."""
    if evaluator is None:
        return []
    metrics = _get(evaluator, 'metrics', evaluator) if hasattr(evaluator, 'get') else evaluator
    if hasattr(metrics, 'get'):
        metrics = [metrics]
    kinds = [_type_name(metric) for metric in metrics or []]
    return [kind for kind in kinds if kind not in LABEL_FREE_METRICS]


def _check_unlabelled_list(
    cfg: Any, loader: str, dataset: Any, field: str, report: _Report, cache: Dict[str, Any]
) -> None:
    """A list without labels (MMAction2's inference format) serves
    prediction only: refused for training and where a metric needs labels."""
    path = _resolve_ann_file(dataset)
    if path is None:
        return
    labels = _cached_labels(dataset, path, cache)
    list_types = VIDEO_LIST_TYPES + RAWFRAME_LIST_TYPES
    if not isinstance(labels, list) or labels or _type_name(dataset) not in list_types:
        return
    if loader == 'train_dataloader':
        report.error(
            f'{field}.ann_file',
            f"{path} has no labels (MMAction2's inference format, one path per line); "
            'training needs a label on every line.',
        )
        return
    evaluator = loader.replace('_dataloader', '_evaluator')
    metrics = _label_metrics(_get(cfg, evaluator))
    if metrics:
        report.error(
            evaluator,
            f'{", ".join(metrics)} needs labels but {field}.ann_file ({path}) has none '
            "(MMAction2's inference format). To write predictions only, run "
            'tools/test.py CONFIG CHECKPOINT --dump preds.pkl (which drops the metrics for a '
            f"list without labels), or set {evaluator}=dict(type='DumpResults', "
            "out_file_path='preds.pkl').",
        )


def _label_map_names(dataset: Any) -> Tuple[Optional[List[str]], Optional[str]]:
    """The class names the dataset names in ``metainfo.classes`` (a list, or
    an existing label-map file, one name per line, as MMEngine's
    ``BaseDataset`` reads it), and where they come from."""
    classes = _get(_get(dataset, 'metainfo'), 'classes')
    if isinstance(classes, str):
        if not osp.isfile(classes):
            return None, None
        return read_label_map(classes), classes
    if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
        return list(classes), 'metainfo.classes'
    return None, None


def _check_flip_label_maps(dataset: Any, field: str, report: _Report) -> None:
    """Every ``flip_label_map`` in the pipeline swaps exactly the classes
    whose names differ by left <-> right in the dataset's label map
    (:func:`derive_flip_label_map`).

    A label-map file that ``metainfo.classes`` names but that does not exist
    is a warning once the annotation file exists: the flip map, which
    relabels flipped clips, goes unchecked, but nothing the run computes
    changes (the labels come from the annotation file, and MMEngine's
    ``BaseDataset`` keeps the path as the class list), and pointing a config
    at one's own list while keeping the shipped label-map path is common.
    Without the annotation file there is no data to check against; the
    dataset build reports the missing list.
    """
    steps = [
        (where, _get(step, 'flip_label_map'))
        for where, step in _flat_steps(_get(dataset, 'pipeline'), f'{field}.pipeline')
        if _get(step, 'flip_label_map') is not None
    ]
    if not steps:
        return
    names, source = _label_map_names(dataset)
    if names is None:
        classes = _get(_get(dataset, 'metainfo'), 'classes')
        if isinstance(classes, str) and _resolve_ann_file(dataset) is not None:
            report.warn(
                f'{field}.metainfo.classes',
                f'label-map file {classes} does not exist, so {steps[0][0]}.flip_label_map '
                'is not checked against the class names (MMEngine keeps the path as the class '
                'list). Point metainfo.classes at the label map written with the annotation '
                'lists (one class name per line, line i naming label i), or drop it with '
                f'--cfg-options {field}.metainfo=None.',
            )
        return
    expected = derive_flip_label_map(names)
    for where, flip_map in steps:
        given = {int(k): int(v) for k, v in dict(flip_map).items()}
        if given == expected:
            continue
        wrong = sorted(k for k in set(given) | set(expected) if given.get(k) != expected.get(k))
        shown = ', '.join(
            f'{k} ({names[k]!r})' if 0 <= k < len(names) else str(k) for k in wrong[:4]
        )
        report.error(
            f'{where}.flip_label_map',
            f'does not fit the class names of {source} ({field}.metainfo.classes): labels '
            f'{shown}{" ..." if len(wrong) > 4 else ""} are swapped wrongly or not at all. '
            f'For that label map it must be {expected} (classes whose names differ only '
            'by left <-> right); a list numbered in another class order (e.g. '
            'build_sthv1_annotations.py --label-order authors) needs its own map.',
        )


# ------------------------------------------------------ schedule length
def _train_length(train_cfg: Any) -> Tuple[Optional[str], Optional[int]]:
    """``('max_epochs', N)`` or ``('max_iters', N)`` of an epoch- or
    iteration-based train loop, ``(None, None)`` for another loop."""
    kind = _type_name(train_cfg)
    by_epoch = _get(train_cfg, 'by_epoch')
    if kind == 'EpochBasedTrainLoop' or (kind is None and by_epoch is True):
        key = 'max_epochs'
    elif kind == 'IterBasedTrainLoop' or (kind is None and by_epoch is False):
        key = 'max_iters'
    else:
        return None, None
    length = _get(train_cfg, key)
    return (key, length) if isinstance(length, int) else (None, None)


def check_param_schedulers(cfg: Any, logger: Optional[MMLogger] = None) -> List[str]:
    """Check that every ``param_scheduler`` runs inside the training length.

    Each scheduler counted in the unit of the train loop (``by_epoch=True``,
    the default, with ``train_cfg.max_epochs``; ``by_epoch=False`` with
    ``train_cfg.max_iters``) must begin before the run ends and end after it
    begins; a scheduler without ``end`` ends with the run, as MMEngine's
    Runner sets it. A scheduler in the other unit depends on the epoch
    length and is not checked.

    The Runner builds the schedulers in ``train()`` before any hook's
    ``before_run``, where an empty range is MMEngine's bare "end should be
    larger than begin"; so the training tools call this right after the
    config is merged (a shortened run, ``--cfg-options
    train_cfg.max_epochs=3`` on a 4-epoch warm-up, is the usual cause).

    A scheduler that would be cut off by the end of the run (an explicit
    ``end`` past it, e.g. a warm-up longer than a shortened run) is a
    warning: the run is what was asked for, only shorter.

    Args:
        cfg: A :class:`mmengine.Config` (or dict) with ``train_cfg`` and
            ``param_scheduler``.
        logger: Where warnings go (the current MMLogger when None).

    Returns:
        The warnings, formatted as ``'field: message'``.

    Raises:
        ConfigCheckError: naming ``param_scheduler[i]``, the train loop's
            length and the fix.
    """
    key, length = _train_length(_get(cfg, 'train_cfg'))
    schedulers = _get(cfg, 'param_scheduler')
    if key is None or schedulers is None:
        return []
    if not isinstance(schedulers, (list, tuple)):
        schedulers = [schedulers]
    loop_by_epoch = key == 'max_epochs'
    checked = [
        (i, scheduler, _get(scheduler, 'begin', 0), _get(scheduler, 'end'))
        for i, scheduler in enumerate(schedulers)
        if _get(scheduler, 'by_epoch', True) == loop_by_epoch
    ]
    unit = key[len('max_') :]
    needed = max([max(begin + 1, end or 0) for _, _, begin, end in checked], default=0)
    fix = (
        f'Train for at least {needed} {unit} (--cfg-options train_cfg.{key}={needed}), or set '
        f'param_scheduler for the shorter run, every begin/end within {length} {unit}.'
    )
    report = _Report()
    for i, scheduler, begin, end in checked:
        field = f'param_scheduler[{i}]'
        name = _type_name(scheduler)
        if end is not None and end <= begin:
            report.error(field, f'{name} has end={end} <= begin={begin}; set end > begin.')
        elif begin >= length:
            report.error(
                field,
                f'{name} begins at {begin} but train_cfg.{key}={length}: it would never run '
                f'(MMEngine: "end should be larger than begin"). {fix}',
            )
        elif end is not None and end > length:
            report.warn(
                field,
                f'{name} ends at {end} but train_cfg.{key}={length}: it would be cut off '
                f'before it finishes. {fix}',
            )
    return _finish(report, logger)


# ---------------------------------------------------------------------- API
def check_tdsclip_config(
    cfg: Any,
    check_ann_files: bool = True,
    logger: Optional[MMLogger] = None,
    running: Optional[Sequence[str]] = None,
) -> List[str]:
    """Check that a config's data fits its TDS-CLIP model.

    Checked, each reported under the config field to change:

    - every pipeline's frame sampling (``SampleTDSFrames.num_segments`` /
      ``num_local_frames``, or a stock sampler's ``clip_len``) gives
      ``model.neck.num_segments x model.neck.num_local_frames`` frames;
    - every pipeline's last crop / resize, inside wrapper transforms too
      (``RepeatAugment``, any step holding a ``transforms`` list), outputs
      ``model.backbone.img_size`` square frames, and the image size is a
      multiple of the patch size;
    - the labels of each dataloader's annotation file (when the file
      exists) fit ``model.cls_head.num_classes`` (a larger label is an error,
      fewer distinct labels a warning); a malformed line of an MMAction2
      list is an error naming the line; a list without labels is an error
      for training and where an evaluator needs labels;
    - every ``flip_label_map`` fits the dataset's label map
      (``metainfo.classes``), see :func:`derive_flip_label_map`;
    - ``model.neck.side_dim`` splits into 64-wide heads and matches
      ``model.cls_head.in_channels``; ``model.backbone.arch`` is a preset or
      a complete dict; ``FormatShape`` is ``'NCTHW'``.

    Configs whose model has no neck with ``num_segments`` (not a TDS-CLIP
    style recognizer) are not checked.

    Args:
        cfg: A :class:`mmengine.Config` (or dict) with ``model`` and the
            ``*_dataloader`` entries.
        check_ann_files: Read annotation files to check the labels.
        logger: Where warnings go (the current MMLogger when None).
        running: The loops this run executes (``'train'``, ``'val'``,
            ``'test'``); lists without labels and flip maps are checked
            only for the dataloaders of these loops (None: all of them).

    Returns:
        The warnings, formatted as ``'field: message'``.

    Raises:
        ConfigCheckError: listing every error found.
    """
    model = _get(cfg, 'model')
    if (
        _get(_get(model, 'neck'), 'num_segments') is None
        and _type_name(model) != 'TDSCLIPRecognizer'
    ):
        return []
    report = _Report()
    geo = _ModelGeometry(model, report)
    ann_cache: Dict[str, Any] = {}
    for loader in DATALOADERS:
        for field, dataset in _leaf_datasets(
            _get(_get(cfg, loader), 'dataset'), f'{loader}.dataset'
        ):
            pipeline = _get(dataset, 'pipeline')
            if pipeline:
                if geo.frames_per_view is not None:
                    _check_sampling(pipeline, f'{field}.pipeline', geo, report)
                _check_size(pipeline, f'{field}.pipeline', geo, report)
                _check_format(pipeline, f'{field}.pipeline', report)
            if check_ann_files:
                _check_labels(dataset, field, geo, report, ann_cache)
                if running is None or loader.replace('_dataloader', '') in running:
                    _check_unlabelled_list(cfg, loader, dataset, field, report, ann_cache)
                    _check_flip_label_maps(dataset, field, report)
    return _finish(report, logger)
