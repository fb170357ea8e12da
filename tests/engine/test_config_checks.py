"""check_tdsclip_config: each mistake is reported under the config field that fixes it."""

import copy
import os.path as osp

import pytest
import torch
from mmaction.registry import HOOKS, MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmaction_tdsclip.utils.config_checks import ConfigCheckError, check_tdsclip_config

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
                neck=dict(type='TDSSideNetwork', num_frames=T, num_local_frames=N, side_dim=64),
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
    assert 'num_segments=4' in problems[field] and 'model.neck.num_frames' in problems[field]
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
