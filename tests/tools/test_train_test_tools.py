"""tools/train.py and tools/test.py: every flag of MMAction2 1.2's own scripts
with the same meaning, and ``--show-dir`` drawing one view per test video."""

import importlib.util
import re
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import mmaction
import pytest
import torch
from _video_fixtures import make_video_list
from mmengine.config import Config

import mmaction_tdsclip  # noqa: F401  (registration)
from mmaction_tdsclip.engine.hooks import SingleViewVisualizationHook

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'tests' / 'tiny_configs' / 'tiny_tdsclip_video.py'
MMACTION_TOOLS = Path(mmaction.__file__).parent / '.mim' / 'tools'
NUM_TEST, FRAMES_PER_CLIP, IMG_SIZE = 4, 6, 32
# Upstream messages a user cannot act on; none may reach the output.
NOISE = (
    'MultiScaleDeformableAttention',
    'pkg_resources is deprecated',
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias',
)


def load_tool(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def ours():
    return Namespace(
        train=load_tool(REPO / 'tools' / 'train.py', 'tdsclip_train_tool'),
        test=load_tool(REPO / 'tools' / 'test.py', 'tdsclip_test_tool'),
    )


@pytest.fixture(scope='module')
def upstream():
    return Namespace(
        train=load_tool(MMACTION_TOOLS / 'train.py', 'mmaction_train_tool'),
        test=load_tool(MMACTION_TOOLS / 'test.py', 'mmaction_test_tool'),
    )


def option_strings(path: Path):
    """Every ``'--option'`` string literal of a script: its argparse options."""
    return set(re.findall(r"'(--[a-z_-]+)'", path.read_text()))


def parsed(module, argv, monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['tool', *argv])
    return module.parse_args()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_every_upstream_option_is_accepted(tool, ours):
    upstream_options = option_strings(MMACTION_TOOLS / f'{tool}.py')
    # What the test is about: the flags the issue names are among them.
    assert {'--auto-scale-lr', '--deterministic', '--diff-rank-seed'} <= option_strings(
        MMACTION_TOOLS / 'train.py'
    )
    assert {'--show', '--show-dir', '--interval', '--wait-time', '--dump'} <= option_strings(
        MMACTION_TOOLS / 'test.py'
    )
    ours_options = option_strings(REPO / 'tools' / f'{tool}.py')
    assert upstream_options - ours_options == set()


def cfg_without_randomness():
    cfg = Config.fromfile(str(CONFIG))
    cfg.pop('randomness', None)
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=4)
    return cfg


TRAIN_ARGVS = [
    [],
    ['--auto-scale-lr', '--amp', '--no-validate'],
    ['--seed', '3', '--diff-rank-seed', '--deterministic'],
    ['--resume'],
    ['--resume', 'some.pth', '--work-dir', 'wd', '--launcher', 'pytorch'],
    ['--cfg-options', 'train_cfg.max_epochs=5', 'optim_wrapper.optimizer.lr=0.5'],
]


@pytest.mark.parametrize('argv', TRAIN_ARGVS, ids=' '.join)
def test_train_options_mean_what_they_mean_upstream(argv, ours, upstream, monkeypatch):
    argv = [str(CONFIG), *argv]
    mine = ours.train.merge_args(cfg_without_randomness(), parsed(ours.train, argv, monkeypatch))
    theirs = upstream.train.merge_args(
        cfg_without_randomness(), parsed(upstream.train, argv, monkeypatch)
    )
    assert mine.to_dict() == theirs.to_dict()


def test_seed_options_override_the_configs_randomness(ours, monkeypatch):
    """Where MMAction2's script silently ignores them, ours applies them."""
    argv = [str(CONFIG), '--seed', '7', '--deterministic']
    cfg = ours.train.merge_args(Config.fromfile(str(CONFIG)), parsed(ours.train, argv, monkeypatch))
    assert cfg.randomness == dict(seed=7, deterministic=True)


def test_auto_scale_lr_without_base_batch_size_is_named(ours, monkeypatch):
    cfg = Config.fromfile(str(CONFIG))
    cfg.pop('auto_scale_lr', None)
    args = parsed(ours.train, [str(CONFIG), '--auto-scale-lr'], monkeypatch)
    with pytest.raises(KeyError, match=r'auto_scale_lr=dict\(base_batch_size=N\)'):
        ours.train.merge_args(cfg, args)
    # Given on the command line, it is found.
    args = parsed(
        ours.train,
        [str(CONFIG), '--auto-scale-lr', '--cfg-options', 'auto_scale_lr.base_batch_size=8'],
        monkeypatch,
    )
    assert ours.train.merge_args(cfg, args).auto_scale_lr == dict(enable=True, base_batch_size=8)


def test_resume_lr_scale_needs_resume(ours, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        parsed(ours.train, [str(CONFIG), '--resume-lr-scale', '0.1'], monkeypatch)
    assert '--resume-lr-scale needs --resume' in capsys.readouterr().err


TEST_ARGVS = [
    [],
    ['--dump', 'out.pkl'],
    ['--show-dir', 'vis', '--interval', '3', '--wait-time', '0.5'],
    ['--show', '--launcher', 'pytorch', '--local-rank', '0'],
]


@pytest.mark.parametrize('argv', TEST_ARGVS, ids=' '.join)
def test_test_options_mean_what_they_mean_upstream(argv, ours, upstream, monkeypatch):
    argv = [str(CONFIG), 'ckpt.pth', *argv, '--cfg-options', 'test_dataloader.batch_size=3']
    mine = ours.test.merge_args(Config.fromfile(str(CONFIG)), parsed(ours.test, argv, monkeypatch))
    args = parsed(upstream.test, argv, monkeypatch)
    # MMAction2's main() does the rest of the merge after merge_args.
    theirs = upstream.test.merge_args(Config.fromfile(str(CONFIG)), args)
    theirs.launcher = args.launcher
    theirs.merge_from_dict(args.cfg_options)
    theirs.work_dir = mine.work_dir
    theirs.load_from = args.checkpoint
    assert mine.to_dict() == theirs.to_dict()


# ---------------------------------------------------------------- --show-dir


class RecordingVisualizer:
    def __init__(self):
        self.calls = []

    def add_datasample(self, name, video, data_sample, **kwargs):
        self.calls.append((name, video, data_sample, kwargs))


def test_one_view_and_the_top_k_are_drawn(monkeypatch):
    from mmaction.structures import ActionDataSample
    from mmengine.visualization import Visualizer

    monkeypatch.setattr(Visualizer, 'get_current_instance', lambda: RecordingVisualizer())
    hook = SingleViewVisualizationHook(view=1, topk=2, enable=True, interval=1)
    views = torch.arange(3 * 3 * 2 * 4 * 5, dtype=torch.uint8).reshape(3, 3, 2, 4, 5)
    sample = ActionDataSample().set_gt_label(2)
    sample.set_pred_score(torch.tensor([0.1, 0.6, 0.3]))
    sample.set_metainfo(dict(filename='/data/clip.mp4'))
    hook.after_test_iter(None, 0, dict(inputs=[views]), [sample])
    ((name, video, drawn, _),) = hook._visualizer.calls
    assert name == 'clip.mp4'
    # View 1, frames (T, H, W, C), as MMAction2's hook lays them out.
    assert video.shape == (2, 4, 5, 3)
    assert (video == views[1].permute(1, 2, 3, 0).numpy()).all()
    assert drawn.pred_labels.item.tolist() == [1, 2]  # the two best classes, best first
    assert drawn.pred_labels.score.tolist() == pytest.approx([0.1, 0.6, 0.3])
    assert drawn.gt_labels.tolist() == [2]
    assert 'pred_labels' not in sample  # the evaluated sample is left alone

    hook = SingleViewVisualizationHook(view=3, enable=True)
    with pytest.raises(IndexError, match='makes 3 views per video'):
        hook.after_test_iter(None, 0, dict(inputs=[views]), [sample])


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('train_test_tools')
    data = root / 'tiny_data'
    make_video_list(
        str(data), [(f'train_{i}.mp4', i % 3) for i in range(4)], 16, 48, 64, 'train.txt'
    )
    make_video_list(
        str(data), [(f'test_{i}.mp4', i % 3) for i in range(NUM_TEST)], 16, 48, 64, 'test.txt'
    )
    return root


def run(args, cwd, env):
    result = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def test_train_then_test_with_show_dir(workspace, subprocess_env):
    work_dir = workspace / 'work'
    log = run(
        [
            REPO / 'tools' / 'train.py',
            CONFIG,
            '--work-dir',
            work_dir,
            '--auto-scale-lr',
            '--seed',
            '1',
            '--deterministic',
            '--no-validate',
            '--cfg-options',
            'auto_scale_lr.base_batch_size=4',
            'train_dataloader.batch_size=2',
        ],
        workspace,
        subprocess_env,
    )
    # The Runner's own report of the scaling: lr x 2 / 4.
    assert 'LR is set based on batch size of 4 and the current batch size is 2' in log
    assert "'seed': 1" in log or 'seed: 1' in log
    show_dir = workspace / 'vis'
    log += run(
        [
            REPO / 'tools' / 'test.py',
            CONFIG,
            work_dir / 'epoch_1.pth',
            '--work-dir',
            workspace / 'test',
            '--show-dir',
            show_dir,
            '--dump',
            workspace / 'preds.pkl',
        ],
        workspace,
        subprocess_env,
    )
    # Every test video: one view's T*n frames, as PNGs of the crop size.
    import cv2

    for i in range(NUM_TEST):
        frames = sorted((show_dir / f'test_{i}.mp4_0').rglob('*.png'))
        assert len(frames) == FRAMES_PER_CLIP, f'test_{i}.mp4: {frames}'
        assert cv2.imread(str(frames[0])).shape[:2] == (IMG_SIZE, IMG_SIZE)
    assert (workspace / 'preds.pkl').is_file()
    # MMAction2's own test.py (what `mim test ... --show-dir` runs) uses the
    # same hook from configs/_base_/default_runtime.py.
    log += run(
        [
            MMACTION_TOOLS / 'test.py',
            CONFIG,
            work_dir / 'epoch_1.pth',
            '--work-dir',
            workspace / 'test_mmaction',
            '--show-dir',
            workspace / 'vis_mmaction',
            '--interval',
            '2',
        ],
        workspace,
        subprocess_env,
    )
    drawn = sorted(p.name for p in (workspace / 'vis_mmaction').iterdir())
    assert drawn == [f'test_{i}.mp4_0' for i in range(0, NUM_TEST, 2)]
    for noise in NOISE:
        assert noise not in log
