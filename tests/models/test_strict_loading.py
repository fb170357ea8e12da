"""Every load of a checkpoint into a TDS-CLIP recognizer is strict, on every
route (MMEngine's Runner for tools/test.py, ``load_from`` and ``--resume``;
``init_recognizer``; the Inferencer; torch's ``load_state_dict``), and fails
before any batch, naming each key and shape that differs. The one way to
load a checkpoint with another head is ``model.checkpoint_skip_prefixes``."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _video_fixtures import make_tiny, make_video_list
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmaction_tdsclip  # noqa: F401
from mmaction_tdsclip.weights import CheckpointMismatchError

REPO_ROOT = Path(__file__).resolve().parents[2]
SSV2 = REPO_ROOT / 'configs' / 'tdsclip' / 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny config of the shipped SSv2 one with 2 videos to train and test on."""
    root = tmp_path_factory.mktemp('strict')
    ann = make_video_list(str(root), [('a.mp4', 0), ('b.mp4', 1)])
    cfg = make_tiny(Config.fromfile(str(SSV2)))
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.ann_file = ann
        loader.dataset.data_prefix = dict(video=str(root / 'videos'))
        loader.batch_size = 1
        loader.num_workers = 0
        loader.pop('persistent_workers', None)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
    cfg.param_scheduler = []
    config = root / 'tiny.py'
    cfg.dump(str(config))
    return root, config


def checkpoint_of(root, config, name, fmt='pth', **model_changes):
    """A checkpoint of the tiny model with some fields changed."""
    cfg = Config.fromfile(str(config))
    for key, value in model_changes.items():
        part, field = key.split('__')
        cfg.model[part][field] = value
    if 'neck__side_dim' in model_changes:
        cfg.model.cls_head.in_channels = model_changes['neck__side_dim']
    init_default_scope('mmaction')
    torch.manual_seed(1)
    model = MODELS.build(cfg.model)
    path = root / f'{name}.{fmt}'
    if fmt == 'safetensors':
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save({'meta': {'epoch': 1}, 'state_dict': model.state_dict()}, str(path))
    return path, model


def runner_for(config, tmp_path, **changes):
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(tmp_path / 'work')
    for key, value in changes.items():
        cfg[key] = value
    return Runner.from_cfg(cfg)


def count_calls(runner, method):
    calls = []
    original = getattr(runner.model, method)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    setattr(runner.model, method, counted)
    return calls


def run_tools_test(config, checkpoint, work_dir, env):
    """``tools/test.py CONFIG CHECKPOINT`` in a subprocess: (exit code, stdout + stderr)."""
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / 'test.py'), str(config), str(checkpoint)]
        + ['--work-dir', str(work_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO_ROOT),
        env=env,
    )
    return result.returncode, result.stdout + result.stderr


def test_test_run_with_a_wrong_width_checkpoint_fails_before_any_batch(setup, tmp_path):
    root, config = setup
    wide, _ = checkpoint_of(root, config, 'wide', neck__side_dim=128)
    runner = runner_for(config, tmp_path, load_from=str(wide))
    batches = count_calls(runner, 'test_step')
    with pytest.raises(CheckpointMismatchError) as info:
        runner.test()
    assert batches == []
    message = str(info.value)
    assert 'neck.stem_conv.weight: checkpoint (128, 3, 3, 16, 16), model (64, 3, 3, 16, 16)' in (
        message
    )
    assert 'cls_head.fc_cls.weight: checkpoint (174, 128), model (174, 64)' in message
    assert 'backbone.' not in message  # the frozen tower fits


def test_tools_test_refuses_a_safetensors_checkpoint_with_another_head(setup, subprocess_env):
    root, config = setup
    other_head, _ = checkpoint_of(root, config, 'head10', 'safetensors', cls_head__num_classes=10)
    returncode, output = run_tools_test(config, other_head, root / 'work_test', subprocess_env)
    assert returncode != 0
    assert 'cls_head.fc_cls.weight: checkpoint (10, 64), model (174, 64)' in output
    assert 'cls_head.fc_cls.bias: checkpoint (10,), model (174,)' in output
    assert 'Epoch(test)' not in output and 'acc/top1' not in output


def test_tools_test_names_a_malicious_checkpoint_without_torch_advice(setup, subprocess_env):
    """torch's own message would suggest weights_only=False; ours does not."""
    root, config = setup
    evil = root / 'evil.pth'
    torch.save({'state_dict': {}, 'hook': subprocess.Popen}, str(evil))
    returncode, output = run_tools_test(config, evil, root / 'work_evil', subprocess_env)
    assert returncode != 0
    assert f'Refusing to load {evil}' in output and 'subprocess.Popen' in output
    assert 'weights_only=False' not in output and 'set to `False`' not in output


def test_resume_of_another_architecture_fails_before_training(setup, tmp_path):
    root, config = setup
    no_td, _ = checkpoint_of(root, config, 'no_td', neck__use_td=False)
    runner = runner_for(config, tmp_path, load_from=str(no_td), resume=True)
    steps = count_calls(runner, 'train_step')
    with pytest.raises(
        CheckpointMismatchError, match=r'neck\.blocks\.0\.td_adapter\.conv1\.weight'
    ):
        runner.train()
    assert steps == []


def test_load_from_with_another_head_needs_the_explicit_option(setup, tmp_path):
    root, config = setup
    source, source_model = checkpoint_of(root, config, 'head10b', cls_head__num_classes=10)
    runner = runner_for(config, tmp_path, load_from=str(source))
    steps = count_calls(runner, 'train_step')
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint_skip_prefixes=\['cls_head.'\]"):
        runner.train()
    assert steps == []

    cfg = Config.fromfile(str(config))
    cfg.model.checkpoint_skip_prefixes = ['cls_head.']
    cfg.load_from = str(source)
    cfg.work_dir = str(tmp_path / 'finetune')
    runner = Runner.from_cfg(cfg)
    head_before = copy.deepcopy(runner.model.cls_head.state_dict())
    runner.load_or_resume()
    loaded = runner.model.state_dict()
    for key, value in source_model.state_dict().items():
        if not key.startswith('cls_head.'):
            assert torch.equal(loaded[key], value), key
    for key, value in head_before.items():
        assert torch.equal(loaded[f'cls_head.{key}'], value), key
    log = (Path(runner.log_dir) / f'{Path(runner.log_dir).name}.log').read_text()
    assert 'cls_head.fc_cls.weight: checkpoint (10, 64), model (174, 64)' in log


def test_skip_prefixes_do_not_hide_other_mismatches(setup):
    root, config = setup
    wide, _ = checkpoint_of(root, config, 'wide2', neck__side_dim=128)
    cfg = Config.fromfile(str(config))
    cfg.model.checkpoint_skip_prefixes = ['cls_head.']
    model = MODELS.build(cfg.model)
    with pytest.raises(CheckpointMismatchError, match='neck.stem_conv.weight') as info:
        model.load_state_dict(torch.load(wide, weights_only=True)['state_dict'])
    differing = str(info.value).split(' tensors differ (')[1].split('). Use the config')[0]
    assert 'neck.pos_embed' in differing and 'cls_head' not in differing


def test_torch_load_state_dict_is_strict_even_when_asked_not_to_be(setup):
    root, config = setup
    _, model = checkpoint_of(root, config, 'same')
    state = model.state_dict()
    state.pop('neck.pos_embed')
    state['neck.extra'] = torch.zeros(2)
    fresh = MODELS.build(Config.fromfile(str(config)).model)
    with pytest.raises(CheckpointMismatchError) as info:
        fresh.load_state_dict(state, strict=False)
    assert 'neck.pos_embed: missing from the checkpoint (model (4, 64))' in str(info.value)
    assert 'neck.extra: not in the model (checkpoint (2,))' in str(info.value)


def test_checkpoint_without_the_frozen_tower_needs_the_tower_from_a_file(setup, tmp_path):
    """Missing backbone keys are fine only when the backbone loaded its
    weights from model.backbone.pretrained when it was built."""
    root, config = setup
    _, model = checkpoint_of(root, config, 'full')
    side_only = {k: v for k, v in model.state_dict().items() if not k.startswith('backbone.')}
    cfg = Config.fromfile(str(config))
    with pytest.raises(CheckpointMismatchError, match='backbone.conv1.weight: missing'):
        MODELS.build(cfg.model).load_state_dict(side_only)
    clip_file = tmp_path / 'clip.pth'
    torch.save({f'visual.{k}': v for k, v in model.backbone.state_dict().items()}, clip_file)
    cfg.model.backbone.pretrained = str(clip_file)
    with_tower = MODELS.build(cfg.model)
    with_tower.load_state_dict(side_only)
    for key, value in model.state_dict().items():
        assert torch.equal(with_tower.state_dict()[key], value), key


def test_init_recognizer_and_inferencer_refuse_a_mismatched_checkpoint(setup):
    from mmaction.apis import init_recognizer
    from mmaction.apis.inferencers import ActionRecogInferencer

    root, config = setup
    wide, _ = checkpoint_of(root, config, 'wide3', neck__side_dim=128)
    with pytest.raises(CheckpointMismatchError, match='neck.pos_embed: checkpoint'):
        init_recognizer(str(config), str(wide), device='cpu')
    with pytest.raises(CheckpointMismatchError, match='neck.pos_embed: checkpoint'):
        ActionRecogInferencer(model=str(config), weights=str(wide), device='cpu')
    good, _ = checkpoint_of(root, config, 'good')
    init_recognizer(str(config), str(good), device='cpu')
