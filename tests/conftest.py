"""Shared fixtures: paths, a subprocess environment and a real mmengine
checkpoint written by a tiny training run."""

import os
import socket
import sys
from pathlib import Path
from typing import Callable, Dict, NamedTuple

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='session')
def free_port() -> Callable[[], int]:
    """Returns a function giving a free loopback port (for rendezvous)."""
    return _free_port


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def source_copy(tmp_path) -> Path:
    """A copy of what a wheel of the plugin is built from (a build writes
    ``.mim/`` into the package, so tests build from a copy)."""
    import shutil

    source = tmp_path / 'src'
    source.mkdir()
    for name in (
        'setup.py',
        'model-index.yml',
        'mmaction_tdsclip_hook.py',
        'mmaction_tdsclip_hook.pth',
    ):
        shutil.copy(REPO_ROOT / name, source / name)
    for folder in ('mmaction_tdsclip', 'configs', 'requirements'):
        shutil.copytree(
            REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns('__pycache__')
        )
    return source


@pytest.fixture(scope='session')
def subprocess_env() -> Dict[str, str]:
    """Environment for child processes: this interpreter's bin folder first
    on PATH (``mim``, ``python`` and the dist scripts resolve to the venv),
    and never the switch that turns off torch's weights_only protection."""
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    env['PYTHONUNBUFFERED'] = '1'
    return env


class MMEngineCheckpoint(NamedTuple):
    """A checkpoint saved by ``mmengine.runner.Runner`` and what it holds."""

    path: Path
    state_dict: Dict[str, torch.Tensor]
    loss_history: np.ndarray
    epoch: int
    iter: int


def _build_toy_runner(work_dir: Path, max_epochs: int, name: str):
    """A Runner around a two-layer model on random data, with optimizer,
    LR schedulers and checkpoints: what a real checkpoint is made of."""
    import torch.nn as nn
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class ToyModel(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.bn = nn.BatchNorm1d(3)

        def forward(self, inputs, mode='tensor'):
            out = self.bn(self.fc(torch.stack(inputs)))
            if mode == 'loss':
                return dict(loss=out.pow(2).mean())
            return out

    class ToyData(Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, index: int):
            return dict(inputs=torch.randn(4))

    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        default_scope='mmaction',
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0,
        ),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1),
            dict(
                type='CosineAnnealingLR',
                by_epoch=True,
                begin=1,
                end=max_epochs,
                T_max=max_epochs - 1,
            ),
        ],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        log_level='WARNING',
    )


@pytest.fixture(scope='session')
def build_toy_runner() -> Callable:
    """Returns ``f(work_dir, max_epochs, name) -> Runner`` (toy model)."""
    return _build_toy_runner


@pytest.fixture(scope='session')
def mmengine_checkpoint(tmp_path_factory) -> MMEngineCheckpoint:
    """Train the toy model for 2 epochs (2 iterations each) and return the
    last checkpoint with the values it must contain."""
    work_dir = tmp_path_factory.mktemp('mmengine_ckpt')
    runner = _build_toy_runner(work_dir, max_epochs=2, name='conftest_ckpt')
    runner.train()
    loss_history, _ = runner.message_hub.get_scalar('train/loss').data
    return MMEngineCheckpoint(
        path=work_dir / 'epoch_2.pth',
        state_dict={k: v.detach().clone() for k, v in runner.model.state_dict().items()},
        loss_history=np.array(loss_history),
        epoch=runner.epoch,
        iter=runner.iter,
    )
