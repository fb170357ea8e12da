"""Every shipped config: the paper recipe it encodes, and one training
iteration plus one multi-view test iteration on tiny data laid out like the
real dataset, with a tiny frozen backbone so it runs on a CPU."""

import ast
import glob
import math
import os
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import mmengine
import numpy as np
import pytest
import torch
from _video_fixtures import make_rawframe_list, make_tiny
from mmengine.config import Config
from mmengine.runner import Runner

from mmaction_tdsclip.datasets.synthetic import write_video
from mmaction_tdsclip.utils.config_checks import check_tdsclip_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(glob.glob(str(REPO_ROOT / 'configs' / 'tdsclip' / '*.py')))
NAMES = [osp.basename(c)[:-3] for c in CONFIGS]

# The paper rows (docs/model.md section 9) each config must encode:
# dataset, backbone, T, epochs, lr, classes, test clips.
RECIPES = {
    'tdsclip_clip-vit-b16_8xb16-u8x5-40e_sthv1-rgb': ('sthv1', 'ViT-B/16', 8, 40, 1e-3, 174, 2),
    'tdsclip_clip-vit-b16_8xb16-u16x5-40e_sthv1-rgb': ('sthv1', 'ViT-B/16', 16, 40, 1e-3, 174, 2),
    'tdsclip_clip-vit-l14_8xb16-u8x5-30e_sthv1-rgb': ('sthv1', 'ViT-L/14', 8, 30, 1e-4, 174, 2),
    'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb': ('sthv2', 'ViT-B/16', 8, 30, 1e-3, 174, 2),
    'tdsclip_clip-vit-b16_8xb16-u16x5-30e_sthv2-rgb': ('sthv2', 'ViT-B/16', 16, 30, 1e-3, 174, 2),
    'tdsclip_clip-vit-l14_8xb16-u8x5-30e_sthv2-rgb': ('sthv2', 'ViT-L/14', 8, 30, 1e-4, 174, 2),
    'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rawframes-rgb': (
        'sthv2-frames',
        'ViT-B/16',
        8,
        30,
        1e-3,
        174,
        2,
    ),
    'tdsclip_clip-vit-b16_8xb16-u8x5-30e_kinetics400-rgb': (
        'k400',
        'ViT-B/16',
        8,
        30,
        1e-3,
        400,
        4,
    ),
    'tdsclip_clip-vit-b16_8xb16-u32x5-30e_kinetics400-rgb': (
        'k400',
        'ViT-B/16',
        32,
        30,
        1e-3,
        400,
        4,
    ),
    'tdsclip_clip-vit-l14_8xb16-u8x5-30e_kinetics400-rgb': (
        'k400',
        'ViT-L/14',
        8,
        30,
        1e-4,
        400,
        4,
    ),
}
SIDE_DIM = {'ViT-B/16': 320, 'ViT-L/14': 512}
SS_FLIP = {
    'sthv1': {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52},
    'sthv2': {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166},
}
SS_FLIP['sthv2-frames'] = SS_FLIP['sthv2']


def test_every_paper_row_has_a_config():
    assert sorted(NAMES) == sorted(RECIPES)


def _types(pipeline):
    return [t['type'] for t in pipeline]


def _find(pipeline, type_name):
    found = [t for t in pipeline if t['type'] == type_name]
    assert len(found) == 1, (type_name, _types(pipeline))
    return found[0]


@pytest.mark.parametrize('name', NAMES)
def test_config_encodes_the_recipe(name):
    cfg = Config.fromfile(CONFIGS[NAMES.index(name)])
    dataset, arch, t, epochs, lr, classes, clips = RECIPES[name]
    assert cfg.default_scope == 'mmaction'
    assert 'mmaction_tdsclip' in cfg.custom_imports['imports']
    # Model.
    assert cfg.model.backbone.arch == arch
    assert cfg.model.backbone.img_size == 224
    assert cfg.model.neck.num_segments == t
    assert cfg.model.neck.num_local_frames == 5
    assert cfg.model.neck.side_dim == SIDE_DIM[arch]
    assert cfg.model.neck.beta == 0.5
    assert cfg.model.cls_head.in_channels == SIDE_DIM[arch]
    assert cfg.model.cls_head.num_classes == classes
    assert cfg.model.cls_head.label_smooth_eps == 0.1
    assert cfg.model.cls_head.average_clips == 'prob'
    np.testing.assert_allclose(
        cfg.model.data_preprocessor.mean, np.array([0.48145466, 0.4578275, 0.40821073]) * 255
    )
    np.testing.assert_allclose(
        cfg.model.data_preprocessor.std, np.array([0.26862954, 0.26130258, 0.27577711]) * 255
    )
    # Optimisation.
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert opt.optimizer.type == 'AdamW'
    assert opt.optimizer.lr == lr
    assert tuple(opt.optimizer.betas) == (0.9, 0.999)
    assert opt.optimizer.eps == 1e-8
    assert opt.optimizer.weight_decay == 0.15
    # No paramwise_cfg, or one that keeps the decay on norms and biases.
    for key in ('norm_decay_mult', 'bias_decay_mult'):
        assert opt.get('paramwise_cfg', {}).get(key, 1.0) == 1.0
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_cfg.val_interval == 1
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 4
    assert warmup.start_factor <= 1e-3 and warmup.convert_to_iter_based
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min == 0
    # The Runner ends the cosine at train_cfg.max_epochs (see
    # test_cosine_ends_at_max_epochs).
    assert cosine.begin == 4 and 'end' not in cosine and 'T_max' not in cosine
    assert cosine.convert_to_iter_based
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=128)
    assert {'SkippedSamplesHook', 'TDSConfigCheckHook', 'NaNGuardHook'} <= set(
        _types(cfg.custom_hooks)
    )
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    # Data.
    train = cfg.train_dataloader.dataset.pipeline
    assert cfg.train_dataloader.batch_size == 16
    protocol = 'kinetics' if dataset == 'k400' else 'sth'
    for pipe, mode_clips in (
        (train, None),
        (cfg.val_dataloader.dataset.pipeline, 1),
        (cfg.test_dataloader.dataset.pipeline, clips),
    ):
        sampler = _find(pipe, 'SampleTDSFrames')
        assert sampler['num_segments'] == t
        assert sampler['num_local_frames'] == 5
        assert sampler['protocol'] == protocol
        if mode_clips is not None:
            assert sampler['test_mode'] and sampler['num_clips'] == mode_clips
    repeat = _find(train, 'RepeatAugment')
    assert repeat['num_repeats'] == 2
    augment = repeat['transforms']
    crop = _find(augment, 'PillowRandomSizedCrop')
    assert crop['size'] == 224
    assert tuple(crop.get('area_range', (0.08, 1.0))) == (0.08, 1.0)
    np.testing.assert_allclose(crop.get('aspect_ratio_range', (3 / 4, 4 / 3)), (3 / 4, 4 / 3))
    test_pipe = cfg.test_dataloader.dataset.pipeline
    val_pipe = cfg.val_dataloader.dataset.pipeline
    assert _find(test_pipe, 'FullResThreeCrop')['crop_size'] == 224
    assert _find(val_pipe, 'TorchvisionCenterCrop')['crop_size'] == 224
    if dataset == 'k400':
        assert 'ClipRandAugment' not in _types(augment)
        assert _find(augment, 'ClipRandomGrayscale')['prob'] == 0.2
        assert _find(augment, 'Flip').get('flip_label_map') is None
        assert crop['short_side'] == 256
        assert _find(test_pipe, 'PillowResize')['short_side'] == 256
    else:
        # RandAugment runs first, inside the crop (which augments only the
        # pixels it reads).
        assert crop['rand_augment']['config_str'].startswith('rand-m7-n4-mstd0.5')
        assert _types(augment).index('PillowRandomSizedCrop') == 0
        assert 'ClipRandomGrayscale' not in _types(augment)
        assert _find(augment, 'Flip')['flip_label_map'] == SS_FLIP[dataset]
        assert tuple(crop['scale']) == (320, 256)
        assert tuple(_find(test_pipe, 'PillowResize')['scale']) == (320, 256)
    if dataset == 'sthv1':
        assert cfg.train_dataloader.dataset.type == 'TDSRawframeDataset'
        assert cfg.train_dataloader.dataset.filename_tmpl == '{:05}.jpg'
        assert cfg.train_dataloader.dataset.start_index == 1
    elif dataset == 'sthv2-frames':  # as the authors read SSv2
        assert cfg.train_dataloader.dataset.type == 'TDSRawframeDataset'
        assert cfg.train_dataloader.dataset.filename_tmpl == 'img_{:05d}.jpg'
        assert cfg.train_dataloader.dataset.start_index == 1
    else:
        assert cfg.train_dataloader.dataset.type == 'TDSVideoDataset'


# ------------------------------------------------------------ tiny runs
_WEBM_SCRIPT = """
import sys
from mmaction_tdsclip.datasets.synthetic import write_video
from mmaction_tdsclip.utils.config_checks import check_tdsclip_config
for path in sys.argv[1:]:
    write_video(path, 23, 48, 64, codec='libvpx-vp9')
"""


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """Tiny datasets in the real layouts: SSv1 frame folders, SSv2 .webm
    videos, K400 ``<youtube_id>_<start>_<end>.mp4`` videos."""
    root = tmp_path_factory.mktemp('tiny_datasets')
    data = {}
    sthv1 = str(root / 'sthv1')
    data['sthv1'] = dict(
        train=make_rawframe_list(
            sthv1,
            [('1001', 2), ('1002', 4)],
            num_frames=17,
            height=48,
            width=64,
            ann_name='train.txt',
        ),
        val=make_rawframe_list(
            sthv1, [('1003', 30)], num_frames=21, height=48, width=64, ann_name='val.txt'
        ),
        prefix=dict(img=osp.join(sthv1, 'frames')),
    )
    sthv2 = root / 'sthv2'
    (sthv2 / 'videos').mkdir(parents=True)
    webms = [str(sthv2 / 'videos' / f'{i}.webm') for i in (7, 8, 9)]
    # libvpx cannot be opened in a process that imported decord.
    subprocess.run([sys.executable, '-c', _WEBM_SCRIPT, *webms], check=True, cwd=str(REPO_ROOT))
    (sthv2 / 'train.txt').write_text('7.webm 86\n8.webm 3\n')
    (sthv2 / 'val.txt').write_text('9.webm 167\n')
    data['sthv2'] = dict(
        train=str(sthv2 / 'train.txt'),
        val=str(sthv2 / 'val.txt'),
        prefix=dict(video=str(sthv2 / 'videos')),
    )
    # The same videos as img_{:05d}.jpg folders, extracted by the shipped tool.
    extract = [REPO_ROOT / 'tools' / 'data' / 'extract_frames.py', sthv2 / 'videos']
    extract += [sthv2 / 'rawframes', '--workers', '1', '--lists']
    extract += [sthv2 / 'train.txt', sthv2 / 'val.txt']
    subprocess.run([sys.executable, *map(str, extract)], check=True, capture_output=True)
    data['sthv2-frames'] = dict(
        train=str(sthv2 / 'train_rawframes.txt'),
        val=str(sthv2 / 'val_rawframes.txt'),
        prefix=dict(img=str(sthv2 / 'rawframes')),
    )
    k400 = root / 'kinetics400'
    names = ['abc_000010_000020.mp4', 'def_000000_000010.mp4']
    for name in names:
        write_video(str(k400 / 'videos_train' / name), 31, 48, 64)
    write_video(str(k400 / 'videos_val' / 'ghi_000005_000015.mp4'), 37, 48, 64)
    (k400 / 'train.txt').write_text(f'{names[0]} 0\n{names[1]} 399\n')
    (k400 / 'val.txt').write_text('ghi_000005_000015.mp4 12\n')
    data['k400'] = dict(
        train=str(k400 / 'train.txt'),
        val=str(k400 / 'val.txt'),
        prefix=dict(video=str(k400 / 'videos_train')),
        val_prefix=dict(video=str(k400 / 'videos_val')),
    )
    return data


def _tiny_cfg(path, data, work_dir):
    cfg = make_tiny(Config.fromfile(path))
    dataset = RECIPES[osp.basename(path)[:-3]][0]
    paths = data[dataset]
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        loader = cfg[f'{split}_dataloader']
        loader.update(
            batch_size=2 if split == 'train' else 1, num_workers=0, persistent_workers=False
        )
        loader.dataset.ann_file = paths[ann]
        loader.dataset.data_prefix = paths.get(
            'val_prefix' if split != 'train' else 'prefix', paths['prefix']
        )
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    # Scores of the test videos, to recompute the accuracy independently.
    cfg.test_evaluator = [
        cfg.test_evaluator,
        dict(type='DumpResults', out_file_path=str(work_dir / 'test_scores.pkl')),
    ]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0)
    cfg.launcher = 'none'
    return cfg


@pytest.mark.parametrize('name', NAMES)
def test_config_trains_and_tests_one_iteration(name, tiny_data, tmp_path):
    path = CONFIGS[NAMES.index(name)]
    dataset, _, t, _, _, classes, clips = RECIPES[name]
    cfg = _tiny_cfg(path, tiny_data, tmp_path)
    runner = Runner.from_cfg(cfg)

    train_sample = runner.train_dataloader.dataset[0]
    assert tuple(train_sample['inputs'].shape) == (2, 3, t * 5, 32, 32)
    assert tuple(train_sample['data_samples'].gt_label.shape) == (2,)
    test_sample = runner.test_dataloader.dataset[0]
    assert tuple(test_sample['inputs'].shape) == (3 * clips, 3, t * 5, 32, 32)

    runner.train()
    assert runner.iter == 1  # two videos, batch 2: one iteration
    loss = runner.message_hub.get_scalar('train/loss').current()
    # Label-smoothed cross-entropy near log(classes) for a fresh model.
    assert math.isfinite(loss) and 0.5 * math.log(classes) < loss < 2 * (math.log(classes))
    # Validated after the epoch (single view): the logged top-1 is the one
    # recomputed from the trained model's scores on the validation video.
    val_top1 = runner.message_hub.get_scalar('val/acc/top1').current()
    val_batch = next(iter(runner.val_dataloader))
    with torch.no_grad():
        (val_pred,) = runner.model.val_step(val_batch)
    expected = float(int(val_pred.pred_score.argmax()) == int(val_pred.gt_label))
    assert val_top1 == expected

    metrics = runner.test()
    # The same check for the multi-view test: top-1/top-5 from the dumped
    # per-video scores (softmax averaged over the views).
    dumped = mmengine.load(str(tmp_path / 'test_scores.pkl'))
    scores = torch.stack([d['pred_score'] for d in dumped])
    labels = torch.tensor([int(d['gt_label']) for d in dumped])
    torch.testing.assert_close(scores.sum(1), torch.ones(len(dumped)))
    top5 = scores.topk(5, dim=1).indices
    assert metrics['acc/top1'] == float((scores.argmax(1) == labels).float().mean())
    assert metrics['acc/top5'] == float((top5 == labels[:, None]).any(1).float().mean())
    assert os.path.isdir(osp.join(runner.log_dir, 'skipped_samples'))


def test_cosine_ends_at_max_epochs(tiny_data, tmp_path):
    """The schedule states the epochs once: the Runner ends the cosine at
    train_cfg.max_epochs (iteration-based), after the 4 warm-up epochs."""
    name = 'tdsclip_clip-vit-b16_8xb16-u8x5-40e_sthv1-rgb'
    cfg = _tiny_cfg(CONFIGS[NAMES.index(name)], tiny_data, tmp_path)
    full = Config.fromfile(CONFIGS[NAMES.index(name)])
    cfg.param_scheduler = full.param_scheduler
    cfg.train_cfg.max_epochs = full.train_cfg.max_epochs
    runner = Runner.from_cfg(cfg)
    iters_per_epoch = len(runner.train_loop.dataloader)
    assert runner.max_epochs == 40
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    warmup, cosine = runner.build_param_scheduler(cfg.param_scheduler)
    assert (warmup.begin, warmup.end) == (0, 4 * iters_per_epoch)
    assert (cosine.begin, cosine.end) == (4 * iters_per_epoch, 40 * iters_per_epoch)
    assert cosine.T_max == 36 * iters_per_epoch


# ------------------------------------------------- every config's runtime
ALL_CONFIGS = sorted(
    p
    for p in (REPO_ROOT / 'configs').rglob('*.py')
    if '_base_' not in p.relative_to(REPO_ROOT).parts
)
STOCK_LOADERS = {'DecordInit', 'DecordDecode', 'PyAVInit', 'PyAVDecode', 'RawFrameDecode'}


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_config_has_the_plugin_runtime(path):
    """Each config under configs/ (demo and examples included) inherits
    default_runtime.py and states its real batch for --auto-scale-lr."""
    tree = ast.parse(path.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], (
        'MMEngine 0.10 misreads imports in config files'
    )
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmaction'
    assert cfg.custom_imports == dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)
    assert {'TDSConfigCheckHook', 'NaNGuardHook', 'SkippedSamplesHook'} <= set(
        _types(cfg.custom_hooks)
    )
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    # DDP on a model the Runner already placed: CPU dist_train.sh works.
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None
    # auto_scale_lr: GPUs x videos per GPU of the recipe ('8xb16' in the
    # name), or one process for the demo.
    match = re.search(r'_(\d+)xb(\d+)-', path.name)
    gpus, per_gpu = (int(match[1]), int(match[2])) if match else (1, None)
    assert cfg.train_dataloader.batch_size == (per_gpu or cfg.train_dataloader.batch_size)
    assert cfg.auto_scale_lr == dict(
        enable=False, base_batch_size=gpus * cfg.train_dataloader.batch_size
    )
    # The plugin's decoders, which count and skip broken videos.
    for split in ('train', 'val', 'test'):
        types = set(_types(cfg[f'{split}_dataloader'].dataset.pipeline))
        assert not types & STOCK_LOADERS, (split, types & STOCK_LOADERS)
        assert types & {'TDSDecordDecode', 'TDSPyAVDecode', 'TDSRawFrameDecode'}
    # The config check understands every shipped pipeline: no warning.
    assert check_tdsclip_config(cfg, check_ann_files=False) == []


def test_clip_constants_are_stated_once():
    """CLIP's mean/std and the side width live in the model bases only."""
    texts = {p: p.read_text() for p in (REPO_ROOT / 'configs').rglob('*.py')}
    for literal in ('122.770938', '68.5005327'):
        holders = [p.relative_to(REPO_ROOT).as_posix() for p, t in texts.items() if literal in t]
        assert holders == ['configs/_base_/models/tdsclip_vit-b16.py'], (literal, holders)


def test_metafile_lists_every_config():
    """configs/tdsclip/metafile.yml (MMAction2's format, imported by the
    root model-index.yml): each entry's config exists, loads and matches its
    metadata; every config of the folder is listed; the results are the
    paper's."""
    from modelindex.load_model_index import load

    index = load(str(REPO_ROOT / 'model-index.yml'))
    index.build_models_with_collections()
    models = {m.name: m for m in index.models}
    assert sorted(models) == sorted(NAMES)
    published = {}
    for name, model in models.items():
        assert model.config == f'configs/tdsclip/{name}.py'
        assert model.in_collection == 'TDSCLIP'
        cfg = Config.fromfile(str(REPO_ROOT / model.config))
        dataset, arch, t, epochs, _, _, clips = RECIPES[name]
        assert model.metadata.architecture == arch
        assert model.metadata.epochs == epochs
        assert model.metadata.batch_size == cfg.train_dataloader.batch_size
        assert model.metadata.data['frame'] == f'{t}x5'
        assert model.metadata.data['views'] == f'3x{clips}'
        for result in model.results or []:
            assert result.task == 'Action Recognition'
            published[name] = result.metrics['Top 1 Accuracy']
    # The published top-1 (paper tables); no other row has a result.
    assert published == {
        'tdsclip_clip-vit-b16_8xb16-u8x5-40e_sthv1-rgb': 60.1,
        'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb': 71.8,
        'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rawframes-rgb': 71.8,  # the authors' frames
        'tdsclip_clip-vit-b16_8xb16-u16x5-30e_sthv2-rgb': 72.1,
        'tdsclip_clip-vit-l14_8xb16-u8x5-30e_sthv2-rgb': 73.4,
        'tdsclip_clip-vit-b16_8xb16-u8x5-30e_kinetics400-rgb': 83.9,
        'tdsclip_clip-vit-b16_8xb16-u32x5-30e_kinetics400-rgb': 84.5,
        'tdsclip_clip-vit-l14_8xb16-u8x5-30e_kinetics400-rgb': 86.7,
    }
