"""Following the NaN guard's advice recovers the run: the command it prints
resumes from the last good checkpoint with the learning rate (and the resumed
schedulers) scaled down, and training reaches its end."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _reliability_worker import runner_cfg
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR, MultiStepLR

from mmaction_tdsclip.engine.hooks.resume_lr_scale_hook import scale_resumed_lr
from mmaction_tdsclip.weights.reader import read_checkpoint

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / 'tests'
MAX_ITERS = 8
# lr: warm-up to 1e-2 by iteration 2, x10 after iteration 4; the model
# "diverges" above 5e-2, so iteration 5 has a nan loss.
BASE_LR, MAX_LR = 1e-2, 5e-2


def write_config(tmp_path: Path) -> Path:
    cfg = runner_cfg(
        str(tmp_path / 'work'),
        loop='iter',
        max_steps=MAX_ITERS,
        ckpt_interval=2,
        val=False,
        experiment_name='nan_remedy',
        custom_hooks=[dict(type='DivergeAboveLRHook', max_lr=MAX_LR)],
    )
    cfg['optim_wrapper']['optimizer']['lr'] = BASE_LR
    cfg['param_scheduler'] = [
        dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2),
        dict(type='MultiStepLR', milestones=[4], gamma=10.0, by_epoch=False),
    ]
    cfg['custom_imports'] = dict(imports=['mmaction_tdsclip', '_reliability_worker'])
    cfg['log_level'] = 'INFO'
    path = tmp_path / 'nan_cfg.py'
    Config(cfg).dump(str(path))
    return path


def train(args, env):
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


@pytest.fixture
def env(subprocess_env):
    paths = [str(REPO), str(TESTS), subprocess_env.get('PYTHONPATH', '')]
    return dict(
        subprocess_env, PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS='1'
    )


def test_following_the_printed_advice_reaches_the_end(tmp_path, env):
    config = write_config(tmp_path)
    work_dir = tmp_path / 'work'
    first = train([REPO / 'tools' / 'train.py', config], env)
    assert first.returncode != 0
    assert 'FloatingPointError: loss is nan at iteration 5' in first.stdout, first.stdout[-3000:]
    last = work_dir / 'iter_4.pth'
    advice = re.search(r'^    python (tools/train\.py [^\n]*)$', first.stdout, re.MULTILINE)
    assert advice, first.stdout[-3000:]
    command = shlex.split(advice[1])
    assert command[command.index('--resume') + 1] == str(last)

    # The old advice, a lower lr in the config, does not reach a resumed run.
    old = train(
        [
            REPO / 'tools' / 'train.py',
            config,
            '--work-dir',
            tmp_path / 'old',
            '--resume',
            last,
            '--cfg-options',
            f'optim_wrapper.optimizer.lr={BASE_LR / 10}',
        ],
        env,
    )
    assert 'loss is nan at iteration 5' in old.stdout, old.stdout[-3000:]

    # The printed command, copied literally.
    second = train(command, env)
    assert second.returncode == 0, second.stdout[-4000:]
    assert 'Resumed with the learning rate scaled by 0.1' in second.stdout
    assert (work_dir / f'iter_{MAX_ITERS}.pth').is_file()
    state = read_checkpoint(work_dir / f'iter_{MAX_ITERS}.pth')
    # Resumed at 1e-1 (after the x10 step), scaled to 1e-2, unchanged to the end.
    assert state['optimizer']['param_groups'][0]['lr'] == pytest.approx(BASE_LR)
    assert all(bool(torch.isfinite(v).all()) for v in state['state_dict'].values())


def test_scaling_covers_the_whole_schedule():
    """Resumed schedulers continue as if the run had started at scale x lr."""

    def schedule(scale_at=None, scale=0.1, steps=12):
        param = torch.nn.Parameter(torch.zeros(1))
        wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0))
        schedulers = [
            LinearLR(wrapper, start_factor=0.25, by_epoch=False, begin=0, end=3),
            MultiStepLR(wrapper, milestones=[5], gamma=0.5, by_epoch=False),
            CosineAnnealingLR(wrapper, T_max=4, eta_min=0.1, by_epoch=False, begin=8, end=12),
        ]
        lrs = []
        for step in range(steps):
            if step == scale_at:
                scale_resumed_lr(wrapper, schedulers, scale)
            lrs.append(wrapper.optimizer.param_groups[0]['lr'])
            for s in schedulers:
                s.step()
        return lrs

    plain, scaled = schedule(), schedule(scale_at=4)
    assert scaled[:4] == plain[:4]
    assert scaled[4:] == pytest.approx([0.1 * lr for lr in plain[4:]])
    with pytest.raises(ValueError, match='must be > 0'):
        scale_resumed_lr(
            OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1)), [], 0
        )
