"""check_cfg_options: misspelled top-level --cfg-options keys are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmaction_tdsclip.utils.cfg_options import (
    MisspelledConfigKeyError,
    check_cfg_options,
    closest_key,
    edit_distance,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs' / 'tdsclip' / 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(str(CONFIG))


@pytest.mark.parametrize(
    'option, closest',
    [
        ('optim_wraper.optimizer.lr', 'optim_wrapper'),
        ('trian_cfg.max_epochs', 'train_cfg'),
        ('work_dri', 'work_dir'),
        ('param_schedular', 'param_scheduler'),
        ('auto_scale_l.enable', 'auto_scale_lr'),  # a Runner key the config need not hold
    ],
)
def test_misspelled_top_level_key_is_refused(cfg, option, closest):
    with pytest.raises(MisspelledConfigKeyError) as info:
        check_cfg_options(cfg, {option: 1})
    message = str(info.value)
    assert f'--cfg-options {option}' in message and f'did you mean {closest!r}' in message


@pytest.mark.parametrize(
    'option',
    [
        'optim_wrapper.optimizer.lr',  # existing
        'compile',  # read by the Runner, absent from the config
        'find_unused_parameters',
        'randomness.seed',
        'model.backbone.brand_new_argument',  # new nested key under an existing dict
        'train_dataloader.dataset.new_key',
        'my_own_variable',  # new, far from every key
    ],
)
def test_allowed_keys(cfg, option):
    check_cfg_options(cfg, {option: 1})
    check_cfg_options(cfg, None)


def test_every_misspelling_is_named_at_once(cfg):
    with pytest.raises(MisspelledConfigKeyError) as info:
        check_cfg_options(cfg, {'optim_wraper.optimizer.lr': 1, 'val_cgf': None, 'compile': 1})
    assert str(info.value).count('did you mean') == 2


def test_edit_distance():
    assert edit_distance('optim_wraper', 'optim_wrapper') == 1
    assert edit_distance('trian_cfg', 'train_cfg') == 1  # a swap is one edit
    assert edit_distance('', 'abc') == 3 and edit_distance('abc', 'abc') == 0
    assert closest_key('lr', ['lrs']) is None  # short keys must match exactly
    assert closest_key('optimiser', ['optimizer', 'model']) == 'optimizer'


def test_train_tool_refuses_before_building_anything(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / 'tools' / 'train.py'),
            str(CONFIG),
            '--work-dir',
            str(tmp_path / 'work'),
            '--cfg-options',
            'optim_wraper.optimizer.lr=1e6',
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode != 0
    assert "did you mean 'optim_wrapper'" in result.stderr
    assert not (tmp_path / 'work').exists()
