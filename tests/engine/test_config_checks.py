"""check_tdsclip_config: each mistake is reported under the config field that fixes it."""

import copy
import glob
import os.path as osp

import pytest
import torch
from mmaction.registry import HOOKS, MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmaction_tdsclip.utils.config_checks import (
    ConfigCheckError,
    check_param_schedulers,
    check_tdsclip_config,
)

T, N, IMG, PATCH = 2, 3, 32, 16


def _pipeline(sampler, crop, test_mode=False):
    return [
        dict(type='DecordInit'),
        sampler,
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, IMG)),
        crop,
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs'),
    ]


def _loader(ann_file, pipeline, test_mode=False):
    return dict(
        batch_size=1,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=not test_mode),
        dataset=dict(
            type='VideoDataset',
            ann_file=ann_file,
            data_prefix=dict(video='videos'),
            pipeline=pipeline,
            test_mode=test_mode,
        ),
    )


def _write_ann(path, labels):
    path.write_text(''.join(f'video{i}.mp4 {label}\n' for i, label in enumerate(labels)))
    return str(path)


@pytest.fixture
def cfg(tmp_path):
    """A consistent tiny config; the annotation files use labels 0..2."""
    train_ann = _write_ann(tmp_path / 'train.txt', [0, 1, 2, 1])
    val_ann = _write_ann(tmp_path / 'val.txt', [2, 0, 1])
    sampler = dict(type='SampleTDSFrames', num_segments=T, num_local_frames=N)
    test_sampler = dict(sampler, num_clips=2, test_mode=True)
    return Config(
        dict(
            model=dict(
                type='TDSCLIPRecognizer',
                backbone=dict(
                    type='FrozenCLIPViT',
                    arch=dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=PATCH),
                    img_size=IMG,
                ),
                neck=dict(type='TDSSideNetwork', num_segments=T, num_local_frames=N, side_dim=64),
                cls_head=dict(type='TDSHead', num_classes=3, in_channels=64),
                data_preprocessor=dict(
                    type='ActionDataPreprocessor',
                    mean=[127.5] * 3,
                    std=[64.0] * 3,
                    format_shape='NCTHW',
                ),
            ),
            train_dataloader=_loader(
                train_ann, _pipeline(sampler, dict(type='RandomCrop', size=IMG))
            ),
            val_dataloader=_loader(
                val_ann,
                _pipeline(dict(sampler, test_mode=True), dict(type='CenterCrop', crop_size=IMG)),
                True,
            ),
            test_dataloader=_loader(
                val_ann, _pipeline(test_sampler, dict(type='ThreeCrop', crop_size=IMG)), True
            ),
        )
    )


def _problems(cfg):
    with pytest.raises(ConfigCheckError) as info:
        check_tdsclip_config(cfg)
    return dict(info.value.problems), str(info.value)


def _build_model(cfg):
    with DefaultScope.overwrite_default_scope('mmaction'):
        return MODELS.build(copy.deepcopy(cfg.model))


def test_consistent_config_passes_and_its_geometry_runs(cfg):
    assert check_tdsclip_config(cfg) == []
    model = _build_model(cfg)
    # What the accepted pipeline produces: (views, 3, T*n, IMG, IMG) per sample.
    inputs = torch.rand(2, 1, 3, T * N, IMG, IMG)
    samples = [ActionDataSample().set_gt_label(i) for i in range(2)]
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['loss_cls'])


def test_num_segments_mismatch(cfg):
    cfg.train_dataloader.dataset.pipeline[1].num_segments = 4
    problems, text = _problems(cfg)
    field = 'train_dataloader.dataset.pipeline[1].num_segments'
    assert list(problems) == [field]
    assert 'num_segments=4' in problems[field] and 'model.neck.num_segments' in problems[field]
    assert field in text
    # The model would only have failed at the first forward.
    with pytest.raises(ValueError, match='T\\*n'):
        _build_model(cfg).neck.check_input(torch.zeros(1, 3, 4 * N, IMG, IMG))


def test_num_local_frames_mismatch(cfg):
    cfg.val_dataloader.dataset.pipeline[1].num_local_frames = 5
    problems, _ = _problems(cfg)
    assert list(problems) == ['val_dataloader.dataset.pipeline[1].num_local_frames']
    assert (
        'model.neck.num_local_frames'
        in problems['val_dataloader.dataset.pipeline[1].num_local_frames']
    )


def test_sampler_defaults_are_taken_from_the_transform(cfg):
    # SampleTDSFrames defaults to 8 segments of 5 frames.
    del cfg.test_dataloader.dataset.pipeline[1]['num_segments']
    del cfg.test_dataloader.dataset.pipeline[1]['num_local_frames']
    problems, _ = _problems(cfg)
    assert 'num_segments=8' in problems['test_dataloader.dataset.pipeline[1].num_segments']
    assert 'num_local_frames=5' in problems['test_dataloader.dataset.pipeline[1].num_local_frames']


def test_stock_sampler_clip_len_mismatch(cfg):
    cfg.test_dataloader.dataset.pipeline[1] = dict(
        type='SampleFrames', clip_len=8, num_clips=2, test_mode=True
    )
    problems, _ = _problems(cfg)
    message = problems['test_dataloader.dataset.pipeline[1].clip_len']
    assert 'clip_len=8' in message and f'clip_len={T * N}' in message


def test_stock_sampler_with_matching_clip_len_only_warns(cfg):
    cfg.train_dataloader.dataset.pipeline[1] = dict(type='SampleFrames', clip_len=T * N)
    warnings = check_tdsclip_config(cfg)
    assert len(warnings) == 1 and warnings[0].startswith(
        'train_dataloader.dataset.pipeline[1].type: '
    )


def test_crop_size_differs_from_img_size(cfg):
    cfg.test_dataloader.dataset.pipeline[4].crop_size = 48
    problems, _ = _problems(cfg)
    message = problems['test_dataloader.dataset.pipeline[4].crop_size']
    assert '48x48' in message and f'{IMG}x{IMG}' in message


def test_output_size_not_divisible_by_patch(cfg):
    cfg.val_dataloader.dataset.pipeline.insert(
        5, dict(type='Resize', scale=(40, 40), keep_ratio=False)
    )
    problems, _ = _problems(cfg)
    message = problems['val_dataloader.dataset.pipeline[5].scale']
    assert '40x40' in message and f'not divisible by the patch size {PATCH}' in message


def test_unknown_output_size_warns(cfg):
    cfg.train_dataloader.dataset.pipeline[4] = dict(type='RandomResizedCrop')
    warnings = check_tdsclip_config(cfg)
    assert warnings == [
        f'train_dataloader.dataset.pipeline[4]: could not tell the frame size this '
        f'pipeline outputs; it must be {IMG}x{IMG} (model.backbone.img_size).'
    ]


def test_img_size_not_divisible_by_patch(cfg):
    cfg.model.backbone.img_size = 40
    problems, _ = _problems(cfg)
    assert 'not divisible by the patch size 16' in problems['model.backbone.img_size']


def test_num_classes_smaller_than_labels(cfg, tmp_path):
    cfg.train_dataloader.dataset.ann_file = _write_ann(tmp_path / 'more.txt', [0, 4, 1, 2])
    problems, _ = _problems(cfg)
    message = problems['model.cls_head.num_classes']
    assert 'train_dataloader.dataset.ann_file' in message and 'label 4' in message
    assert 'at least 5' in message


def test_fewer_distinct_labels_warns(cfg, tmp_path):
    cfg.train_dataloader.dataset.ann_file = _write_ann(tmp_path / 'two.txt', [0, 1, 1, 0])
    warnings = check_tdsclip_config(cfg)
    assert len(warnings) == 1
    assert (
        warnings[0].startswith('train_dataloader.dataset.ann_file: ')
        and '2 distinct labels' in warnings[0]
    )


def test_data_root_is_joined_to_ann_file(cfg, tmp_path):
    _write_ann(tmp_path / 'rooted.txt', [7])
    cfg.train_dataloader.dataset.update(data_root=str(tmp_path), ann_file='rooted.txt')
    problems, _ = _problems(cfg)
    assert 'label 7' in problems['model.cls_head.num_classes']


def test_missing_ann_file_is_not_an_error(cfg, tmp_path):
    cfg.train_dataloader.dataset.ann_file = str(tmp_path / 'absent.txt')
    assert check_tdsclip_config(cfg) == []


def test_side_dim_not_multiple_of_64(cfg):
    cfg.model.neck.side_dim = 96
    cfg.model.cls_head.in_channels = 96
    problems, _ = _problems(cfg)
    assert list(problems) == ['model.neck.side_dim']
    assert '64' in problems['model.neck.side_dim'] and '128' in problems['model.neck.side_dim']


def test_head_width_differs_from_side_dim(cfg):
    cfg.model.cls_head.in_channels = 128
    problems, _ = _problems(cfg)
    assert 'in_channels=64' in problems['model.cls_head.in_channels']


def test_unknown_backbone_preset(cfg):
    cfg.model.backbone.arch = 'ViT-B/8'
    problems, _ = _problems(cfg)
    assert (
        "'ViT-B/8'" in problems['model.backbone.arch']
        and 'ViT-B/16' in problems['model.backbone.arch']
    )


def test_preset_geometry_is_used(cfg):
    # ViT-B/32 at its preset 224: the 32-pixel crops no longer fit.
    cfg.model.backbone = dict(type='FrozenCLIPViT', arch='ViT-B/32')
    problems, _ = _problems(cfg)
    assert '224x224' in problems['train_dataloader.dataset.pipeline[4].size']


def test_wrong_format_shape(cfg):
    cfg.train_dataloader.dataset.pipeline[5].input_format = 'NCHW'
    problems, _ = _problems(cfg)
    assert 'NCTHW' in problems['train_dataloader.dataset.pipeline[5].input_format']


def test_wrapped_datasets_are_named_by_their_path(cfg):
    inner = cfg.train_dataloader.dataset
    inner.pipeline[1].num_segments = 3
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2, dataset=inner)
    problems, _ = _problems(cfg)
    assert 'train_dataloader.dataset.dataset.pipeline[1].num_segments' in problems


def test_every_problem_is_reported_at_once(cfg):
    cfg.model.neck.side_dim = 100
    cfg.train_dataloader.dataset.pipeline[1].num_segments = 4
    cfg.test_dataloader.dataset.pipeline[4].crop_size = 48
    problems, text = _problems(cfg)
    assert len(problems) == 4  # side_dim, in_channels, num_segments, crop_size
    assert text.startswith('The TDS-CLIP config has 4 problem(s)')


def test_other_models_are_not_checked():
    assert (
        check_tdsclip_config(Config(dict(model=dict(type='Recognizer3D', backbone=dict())))) == []
    )


def test_hook_stops_the_run_before_any_data_is_loaded(cfg, tmp_path):
    """The videos do not exist: had training started, decoding would fail instead."""
    from mmengine.runner import Runner

    cfg.model.cls_head.num_classes = 2
    cfg.merge_from_dict(
        dict(
            work_dir=str(tmp_path / 'work'),
            experiment_name='config_check_hook',
            default_scope='mmaction',
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
            val_cfg=None,
            val_dataloader=None,
            val_evaluator=None,
            test_dataloader=None,
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
            custom_hooks=[dict(type='TDSConfigCheckHook')],
            log_level='WARNING',
        )
    )
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ConfigCheckError, match=r'model\.cls_head\.num_classes: num_classes=2'):
        runner.train()
    assert runner.iter == 0
    assert not osp.exists(osp.join(runner.work_dir, 'last_checkpoint'))
    assert type(HOOKS.build(dict(type='TDSConfigCheckHook'))).__name__ == 'TDSConfigCheckHook'


# ------------------------------------------------------------ wrappers
def test_wrong_crop_inside_repeat_augment(cfg):
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[4] = dict(
        type='RepeatAugment',
        num_repeats=2,
        transforms=[dict(type='Flip', flip_ratio=0.5), dict(type='RandomCrop', size=IMG + 8)],
    )
    problems, _ = _problems(cfg)
    message = problems['train_dataloader.dataset.pipeline[4].transforms[1].size']
    assert f'{IMG + 8}x{IMG + 8}' in message and f'{IMG}x{IMG}' in message


def test_right_crop_inside_nested_wrappers(cfg):
    crop = dict(type='RandomCrop', size=IMG)
    cfg.train_dataloader.dataset.pipeline[4] = dict(
        type='RepeatAugment',
        transforms=[dict(type='RandomApply', transforms=[dict(type='Flip')]), crop],
    )
    assert check_tdsclip_config(cfg) == []


def test_unknown_transform_named_as_a_resize_with_a_fixed_scale(cfg):
    cfg.val_dataloader.dataset.pipeline.insert(
        5, dict(type='PILResize', scale=(IMG + 16, IMG + 16), keep_ratio=False)
    )
    problems, _ = _problems(cfg)
    assert f'{IMG + 16}x{IMG + 16}' in problems['val_dataloader.dataset.pipeline[5].scale']


def _shipped_configs():
    root = osp.join(osp.dirname(__file__), '..', '..', 'configs')
    paths = sorted(glob.glob(osp.join(root, '**', '*.py'), recursive=True))
    return [p for p in paths if f'{osp.sep}_base_{osp.sep}' not in p]


@pytest.mark.parametrize('path', _shipped_configs(), ids=osp.basename)
def test_every_shipped_pipeline_output_size_is_known(path):
    cfg = Config.fromfile(path)
    warnings = check_tdsclip_config(cfg, check_ann_files=False)
    assert not [w for w in warnings if 'could not tell the frame size' in w]


# ------------------------------------------------ annotation lists, flip maps
def _labels_file(tmp_path, names):
    path = tmp_path / 'label_map.txt'
    path.write_text(''.join(f'{name}\n' for name in names))
    return str(path)


FLIP_NAMES = [
    'Holding something',
    'Pushing something from left to right',
    'Pushing something from right to left',
]


def _with_flip(cfg, tmp_path, flip_map, names=FLIP_NAMES):
    dataset = cfg.train_dataloader.dataset
    dataset.metainfo = dict(classes=_labels_file(tmp_path, names))
    dataset.pipeline[4] = dict(
        type='RepeatAugment',
        transforms=[
            dict(type='RandomCrop', size=IMG),
            dict(type='Flip', flip_ratio=0.5, flip_label_map=flip_map),
        ],
    )
    return cfg


def test_flip_map_that_fits_the_label_map_passes(cfg, tmp_path):
    assert check_tdsclip_config(_with_flip(cfg, tmp_path, {1: 2, 2: 1})) == []


@pytest.mark.parametrize('flip_map', [{0: 1, 1: 0}, {1: 2}, {}, {1: 2, 2: 1, 0: 0}])
def test_flip_map_that_does_not_fit_the_label_map(cfg, tmp_path, flip_map):
    problems, _ = _problems(_with_flip(cfg, tmp_path, flip_map))
    message = problems['train_dataloader.dataset.pipeline[4].transforms[1].flip_label_map']
    assert 'label_map.txt' in message and '{1: 2, 2: 1}' in message


def test_flip_map_against_class_names_given_as_a_list(cfg, tmp_path):
    _with_flip(cfg, tmp_path, {1: 2, 2: 1})
    cfg.train_dataloader.dataset.metainfo = dict(classes=list(reversed(FLIP_NAMES)))
    problems, _ = _problems(cfg)
    assert (
        '{0: 1, 1: 0}'
        in problems['train_dataloader.dataset.pipeline[4].transforms[1].flip_label_map']
    )


def test_missing_label_map_file_is_a_warning_once_the_data_exists(cfg, tmp_path):
    """The flip map goes unchecked: said, not refused (the run computes the same)."""
    _with_flip(cfg, tmp_path, {0: 1, 1: 0})  # a wrong map, which the label map would catch
    missing = str(tmp_path / 'no_such_label_map.txt')
    cfg.train_dataloader.dataset.metainfo = dict(classes=missing)
    (warning,) = check_tdsclip_config(cfg)
    field, message = warning.split(': ', 1)
    assert field == 'train_dataloader.dataset.metainfo.classes'
    assert missing in message and 'pipeline[4].transforms[1].flip_label_map' in message
    assert 'train_dataloader.dataset.metainfo=None' in message
    # Dropping metainfo, as the message says, trains without the check and the warning.
    cfg.train_dataloader.dataset.metainfo = None
    assert check_tdsclip_config(cfg) == []


def test_missing_label_map_without_data_is_not_checked(cfg, tmp_path):
    """No annotation file either: a shipped config on a machine without the data."""
    _with_flip(cfg, tmp_path, {1: 2, 2: 1})
    cfg.train_dataloader.dataset.metainfo = dict(classes=str(tmp_path / 'missing.txt'))
    cfg.train_dataloader.dataset.ann_file = str(tmp_path / 'missing_list.txt')
    assert check_tdsclip_config(cfg) == []


def test_missing_label_map_without_a_flip_map_is_not_checked(cfg, tmp_path):
    cfg.train_dataloader.dataset.metainfo = dict(classes=str(tmp_path / 'missing.txt'))
    assert check_tdsclip_config(cfg) == []


def test_malformed_annotation_line_is_an_error_naming_the_line(cfg, tmp_path):
    path = tmp_path / 'bad.txt'
    path.write_text('video0.mp4 0\nvideo1.mp4 one\n')
    cfg.val_dataloader.dataset.ann_file = str(path)
    problems, _ = _problems(cfg)
    message = problems['val_dataloader.dataset.ann_file']
    assert f'{path}, line 2' in message and "'video1.mp4 one'" in message
    assert 'not an integer' in message


def test_unlabelled_list_with_a_metric_is_refused(cfg, tmp_path):
    path = tmp_path / 'unlabelled.txt'
    path.write_text('video0.mp4\nvideo1.mp4\n')
    cfg.test_dataloader.dataset.ann_file = str(path)
    cfg.test_evaluator = dict(type='AccMetric')
    problems, _ = _problems(cfg)
    message = problems['test_evaluator']
    assert 'AccMetric needs labels' in message and str(path) in message and '--dump' in message
    assert 'negative' not in str(problems)
    # Predictions only: accepted.
    cfg.test_evaluator = [dict(type='DumpResults', out_file_path='p.pkl')]
    assert check_tdsclip_config(cfg) == []


def test_unlabelled_training_list_is_refused(cfg, tmp_path):
    path = tmp_path / 'unlabelled.txt'
    path.write_text('video0.mp4\n')
    cfg.train_dataloader.dataset.ann_file = str(path)
    problems, _ = _problems(cfg)
    assert 'training needs a label' in problems['train_dataloader.dataset.ann_file']


@pytest.mark.parametrize(
    'text, what', [('video0.mp4 0\n\n', 'a blank line'), ('video0.mp4\t0\n', 'a tab')]
)
def test_what_the_stock_video_dataset_misreads_is_an_error(cfg, tmp_path, text, what):
    path = tmp_path / 'stock.txt'
    path.write_text(text)
    cfg.train_dataloader.dataset.ann_file = str(path)
    cfg.model.cls_head.num_classes = 1
    problems, _ = _problems(cfg)
    message = problems['train_dataloader.dataset.ann_file']
    assert f'{path}, line 2' in message or f'{path}, line 1' in message
    assert what in message and 'TDSVideoDataset' in message
    cfg.train_dataloader.dataset.type = 'TDSVideoDataset'  # reads it correctly
    assert 'train_dataloader.dataset.ann_file' not in _problems(cfg)[0]


def test_unlabelled_list_is_checked_only_for_the_loops_that_run(cfg, tmp_path):
    path = tmp_path / 'unlabelled.txt'
    path.write_text('video0.mp4\nvideo1.mp4\n')
    cfg.val_dataloader.dataset.ann_file = str(path)
    cfg.val_evaluator = dict(type='AccMetric')
    assert check_tdsclip_config(cfg, running=['test']) == []
    problems, _ = _problems(cfg)  # all loops by default
    assert 'AccMetric needs labels' in problems['val_evaluator']
    with pytest.raises(ConfigCheckError, match='val_evaluator'):
        check_tdsclip_config(cfg, running=['train', 'val'])


def test_flip_map_is_checked_only_when_training_runs(cfg, tmp_path):
    _with_flip(cfg, tmp_path, {0: 1, 1: 0})
    assert check_tdsclip_config(cfg, running=['test']) == []
    with pytest.raises(ConfigCheckError, match='flip_label_map'):
        check_tdsclip_config(cfg, running=['train', 'val'])


def test_frame_size_is_followed_into_repeat_augment(cfg):
    """The crop inside RepeatAugment sets the size (the demo's pipeline:
    resize to 36 x 36, then each view cropped to 32)."""
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline[3] = dict(type='Resize', scale=(IMG + 4, IMG + 4), keep_ratio=False)
    pipeline[4] = dict(
        type='RepeatAugment', num_repeats=2, transforms=[dict(type='RandomCrop', size=IMG)]
    )
    assert check_tdsclip_config(cfg) == []
    pipeline[4]['transforms'][0]['size'] = IMG - 8
    problems, _ = _problems(cfg)
    field = 'train_dataloader.dataset.pipeline[4].transforms[0].size'
    assert list(problems) == [field]
    assert f'{IMG - 8}x{IMG - 8}' in problems[field]


# ------------------------------------------------------- schedule length
SCHEDULE = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'schedules', 'adamw_warmup4e-cosine.py'
)


def _mmengine_builds(cfg):
    """Whether MMEngine builds the schedulers, with ``end`` defaulted to the
    run's length as its Runner does (one iteration per epoch)."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS

    wrapper = OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    try:
        for scheduler in cfg.param_scheduler:
            scheduler = dict(scheduler)
            scheduler.setdefault('end', cfg.train_cfg.max_epochs)
            PARAM_SCHEDULERS.build(scheduler, default_args=dict(optimizer=wrapper, epoch_length=1))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize('max_epochs', [1, 3, 4, 5, 30])
def test_schedule_check_agrees_with_mmengine(max_epochs):
    """The shipped schedule (4-epoch warm-up, cosine to the end): refused
    exactly where MMEngine cannot build it, with a message naming the field."""
    cfg = Config.fromfile(SCHEDULE)
    cfg.train_cfg.max_epochs = max_epochs
    builds = _mmengine_builds(cfg)
    assert builds == (max_epochs > 4)
    if builds:
        assert check_param_schedulers(cfg) == []
        return
    with pytest.raises(ConfigCheckError) as info:
        check_param_schedulers(cfg)
    problems = dict(info.value.problems)
    assert 'param_scheduler[1]' in problems
    message = problems['param_scheduler[1]']
    assert f'train_cfg.max_epochs={max_epochs}' in message
    assert 'CosineAnnealingLR begins at 4' in message
    assert 'Train for at least 5 epochs (--cfg-options train_cfg.max_epochs=5)' in message


def test_warm_up_cut_off_by_the_end_of_the_run_is_a_warning():
    """A run shorter than the warm-up but with the cosine removed builds in
    MMEngine; the warm-up never finishes, which the check says."""
    cfg = Config.fromfile(SCHEDULE)
    cfg.train_cfg.max_epochs = 3
    with pytest.raises(ConfigCheckError) as info:
        check_param_schedulers(cfg)
    assert list(dict(info.value.problems)) == ['param_scheduler[1]']
    cfg.param_scheduler = cfg.param_scheduler[:1]
    assert _mmengine_builds(cfg)
    (warning,) = check_param_schedulers(cfg)
    assert warning.startswith('param_scheduler[0]: LinearLR ends at 4 but train_cfg.max_epochs=3')


def test_iteration_schedules_are_checked_against_max_iters():
    cfg = Config(
        dict(
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=100),
            param_scheduler=[
                dict(type='LinearLR', by_epoch=False, begin=0, end=500),
                dict(type='CosineAnnealingLR', by_epoch=True, begin=10),  # epochs: not checked
            ],
        )
    )
    (warning,) = check_param_schedulers(cfg)
    assert warning.startswith(
        'param_scheduler[0]: LinearLR ends at 500 but train_cfg.max_iters=100'
    )
    cfg.train_cfg.max_iters = 500
    assert check_param_schedulers(cfg) == []
    cfg.param_scheduler[0] = dict(type='LinearLR', by_epoch=False, begin=500)  # end: max_iters
    with pytest.raises(ConfigCheckError, match=r'train_cfg\.max_iters=500') as info:
        check_param_schedulers(cfg)
    assert list(dict(info.value.problems)) == ['param_scheduler[0]']
    cfg.param_scheduler[0].update(begin=0, end=0)
    with pytest.raises(
        ConfigCheckError, match=r'param_scheduler\[0\]: LinearLR has end=0 <= begin=0'
    ):
        check_param_schedulers(cfg)


def test_train_tool_refuses_a_run_shorter_than_the_warm_up(capsys):
    """tools/train.py stops before building the Runner, whose own error
    ("end should be larger than begin") names no field."""
    import importlib.util

    root = osp.join(osp.dirname(__file__), '..', '..')
    spec = importlib.util.spec_from_file_location('tds_train', osp.join(root, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    config = osp.join(
        root, 'configs', 'tdsclip', 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'
    )
    with pytest.raises(SystemExit) as info:
        train.main([config, '--cfg-options', 'train_cfg.max_epochs=3'])
    message = str(info.value)
    assert message.startswith('train.py: error:')
    assert 'param_scheduler[1]' in message and 'train_cfg.max_epochs=3' in message
