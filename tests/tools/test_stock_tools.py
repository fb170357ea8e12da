"""The stock OpenMMLab tools drive the plugin's configs on CPU: ``mim
train/test mmaction2 CONFIG`` and mmaction2's own ``dist_train.sh`` /
``dist_test.sh`` (2 processes, gloo), plus this repo's torchrun scripts.

Tiny mp4 videos are written to a temporary folder; the tiny TDS-CLIP config
(tests/tiny_configs/tiny_tdsclip_video.py) reads them from there. The
multi-view test (2 clips x 3 crops) gathered from 2 ranks must cover every
test sample exactly once and agree with a single-process run. The tiny config
inherits the shipped model, schedule and runtime bases and reads the videos
with the plugin's own sampler and decoders (SampleTDSFrames, TDSDecordInit,
TDSDecordDecode), as the shipped configs do.
"""

import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple

import av
import mmaction
import mmengine
import numpy as np
import pytest
import torch

import mmaction_tdsclip  # noqa: F401  (registration for the in-process check)
from mmaction_tdsclip.weights import read_checkpoint

CONFIG = Path(__file__).resolve().parents[1] / 'tiny_configs' / 'tiny_tdsclip_video.py'
MMACTION_TOOLS = Path(mmaction.__file__).parent / '.mim' / 'tools'
NUM_TRAIN, NUM_TEST, NUM_CLASSES = 6, 5, 3
TIMEOUT = 300


def write_video(path: Path, label: int, rng: np.random.Generator) -> None:
    """16 frames of 64x48, the colour channel ``label`` lit, plus noise.
    (decord needs rows whose byte width is a multiple of 64.)"""
    container = av.open(str(path), 'w')
    stream = container.add_stream('mpeg4', rate=8)
    stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
    base = np.zeros((48, 64, 3), np.uint8)
    base[..., label] = 200
    for _ in range(16):
        noise = rng.integers(0, 40, base.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(base + noise, format='rgb24')
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    """A working directory holding tiny_data/ as the tiny config expects."""
    root = tmp_path_factory.mktemp('stock_tools')
    videos = root / 'tiny_data' / 'videos'
    videos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (('train', NUM_TRAIN), ('test', NUM_TEST)):
        lines = []
        for index in range(count):
            name, label = f'{split}_{index}.mp4', index % NUM_CLASSES
            write_video(videos / name, label, rng)
            lines.append(f'{name} {label}\n')
        (root / 'tiny_data' / f'{split}.txt').write_text(''.join(lines))
    return root


def run_tool(
    args: List[str], cwd: Path, env: Dict[str, str], log_name: str, port: int = None
) -> str:
    """Run a command in ``cwd``; fail with the end of its log unless it
    exits 0. Returns the log."""
    if port is not None:
        env = dict(env, PORT=str(port))
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )
    (cwd / log_name).write_text(result.stdout)
    assert result.returncode == 0, (
        f'{" ".join(map(str, args))} exited {result.returncode}:\n' + result.stdout[-4000:]
    )
    return result.stdout


class Predictions(NamedTuple):
    sample_idx: List[int]
    filenames: List[str]
    scores: Dict[int, torch.Tensor]
    records: List[dict]


def load_predictions(path: Path) -> Predictions:
    records = mmengine.load(str(path))
    indices = [int(r['sample_idx']) for r in records]
    return Predictions(
        sample_idx=indices,
        filenames=[r['filename'] for r in records],
        scores={i: r['pred_score'] for i, r in zip(indices, records)},
        records=records,
    )


def assert_each_test_sample_once(preds: Predictions) -> None:
    assert sorted(preds.sample_idx) == list(range(NUM_TEST))
    assert sorted(Path(f).name for f in preds.filenames) == [
        f'test_{i}.mp4' for i in range(NUM_TEST)
    ]
    for record in preds.records:
        assert record['num_clips'] == 2
        score = record['pred_score']
        assert score.shape == (NUM_CLASSES,)
        # average_clips='prob': a mean of softmaxes over the 6 views.
        assert float(score.sum()) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope='module')
def mim_trained(workspace, subprocess_env) -> Path:
    """``mim train mmaction2 CONFIG --auto-scale-lr`` for one epoch; returns
    its work dir. The config's auto_scale_lr (base batch 2) equals the real
    batch (1 process x 2), so the learning rate is unchanged."""
    work_dir = workspace / 'mim_train'
    log = run_tool(
        [
            'mim',
            'train',
            'mmaction2',
            str(CONFIG),
            '--work-dir',
            str(work_dir),
            '--auto-scale-lr',
        ],
        workspace,
        subprocess_env,
        'mim_train.log',
    )
    # The frozen CLIP tower's parameters are reported in one line.
    assert 'is skipped since its requires_grad' not in log
    assert (
        log.count('parameters with requires_grad=False are left out of the optimizer (backbone: ')
        == 1
    )
    return work_dir


@pytest.fixture(scope='module')
def dist_trained(workspace, subprocess_env, mim_trained, free_port) -> Path:
    """mmaction2's dist_train.sh on 2 CPU processes, resuming the mim run
    for a second epoch; returns its work dir."""
    work_dir = workspace / 'dist_train'
    log = run_tool(
        [
            'bash',
            str(MMACTION_TOOLS / 'dist_train.sh'),
            str(CONFIG),
            '2',
            '--work-dir',
            str(work_dir),
            '--resume',
            str(mim_trained / 'epoch_1.pth'),
            '--cfg-options',
            'train_cfg.max_epochs=2',
        ],
        workspace,
        subprocess_env,
        'dist_train.log',
        port=free_port(),
    )
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'resumed epoch: 1, iter: 3' in log
    return work_dir


@pytest.fixture(scope='module')
def single_process_predictions(workspace, subprocess_env, dist_trained) -> Predictions:
    """``mim test mmaction2 CONFIG --checkpoint CKPT`` on one process."""
    dump = workspace / 'mim_test.pkl'
    run_tool(
        [
            'mim',
            'test',
            'mmaction2',
            str(CONFIG),
            '--checkpoint',
            str(dist_trained / 'epoch_2.pth'),
            '--work-dir',
            str(workspace / 'mim_test'),
            '--dump',
            str(dump),
        ],
        workspace,
        subprocess_env,
        'mim_test.log',
    )
    return load_predictions(dump)


def test_test_pipeline_makes_six_views(workspace, monkeypatch):
    from mmaction.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    monkeypatch.chdir(workspace)
    init_default_scope('mmaction')
    cfg = Config.fromfile(str(CONFIG))
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        # The plugin's sampler and decoders, not the stock ones.
        assert [t['type'] for t in loader.dataset.pipeline][:3] == [
            'TDSDecordInit',
            'SampleTDSFrames',
            'TDSDecordDecode',
        ]
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == NUM_TEST
    sample = dataset[0]
    # 2 clips x 3 crops, each 3 x (T*n = 6) x 32 x 32.
    assert sample['inputs'].shape == (6, 3, 6, 32, 32)


def test_mim_train_saves_checkpoint(mim_trained):
    ckpt = read_checkpoint(mim_trained / 'epoch_1.pth')
    assert ckpt['meta']['epoch'] == 1
    # The whole model is saved, frozen CLIP tower included.
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


def test_mmaction_dist_train_two_processes(dist_trained):
    ckpt = read_checkpoint(dist_trained / 'epoch_2.pth')
    assert ckpt['meta']['epoch'] == 2


def test_mim_test_single_process(single_process_predictions):
    assert_each_test_sample_once(single_process_predictions)


def test_mmaction_dist_test_two_processes_gathers_every_view_once(
    workspace, subprocess_env, dist_trained, single_process_predictions, free_port
):
    dump = workspace / 'dist_test.pkl'
    run_tool(
        [
            'bash',
            str(MMACTION_TOOLS / 'dist_test.sh'),
            str(CONFIG),
            str(dist_trained / 'epoch_2.pth'),
            '2',
            '--work-dir',
            str(workspace / 'dist_test'),
            '--dump',
            str(dump),
        ],
        workspace,
        subprocess_env,
        'dist_test.log',
        port=free_port(),
    )
    preds = load_predictions(dump)
    assert_each_test_sample_once(preds)
    for index in range(NUM_TEST):
        torch.testing.assert_close(
            preds.scores[index], single_process_predictions.scores[index], rtol=1e-4, atol=1e-5
        )


def test_our_test_tool_matches_mim(
    workspace, subprocess_env, dist_trained, single_process_predictions, repo_root
):
    dump = workspace / 'tools_test.pkl'
    run_tool(
        [
            'python',
            str(repo_root / 'tools' / 'test.py'),
            str(CONFIG),
            str(dist_trained / 'epoch_2.pth'),
            '--work-dir',
            str(workspace / 'tools_test'),
            '--dump',
            str(dump),
        ],
        workspace,
        subprocess_env,
        'tools_test.log',
    )
    preds = load_predictions(dump)
    assert_each_test_sample_once(preds)
    for index in range(NUM_TEST):
        torch.testing.assert_close(preds.scores[index], single_process_predictions.scores[index])


@pytest.mark.parametrize(
    'script,positional',
    [
        ('dist_train.sh', ['cfg.py']),
        ('dist_test.sh', ['cfg.py', 'ckpt.pth']),
    ],
)
def test_dist_scripts_pass_launch_settings(script, positional, repo_root, subprocess_env, tmp_path):
    """The torchrun command line the scripts build, multi-node settings
    included (the python they run is replaced by one that prints it)."""
    show_args = tmp_path / 'show_args.sh'
    show_args.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    show_args.chmod(0o755)
    env = dict(
        subprocess_env,
        PYTHON=str(show_args),
        NNODES='2',
        NODE_RANK='1',
        MASTER_ADDR='master-node',
        PORT='29999',
    )
    result = subprocess.run(
        ['bash', str(repo_root / 'tools' / script), *positional, '4', '--cfg-options', 'a=1'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    tool = repo_root / 'tools' / script.replace('dist_', '').replace('.sh', '.py')
    assert result.stdout.splitlines() == [
        '-m',
        'torch.distributed.run',
        '--nnodes=2',
        '--node_rank=1',
        '--master_addr=master-node',
        '--master_port=29999',
        '--nproc_per_node=4',
        str(tool),
        *positional,
        '--launcher',
        'pytorch',
        '--cfg-options',
        'a=1',
    ]


def test_train_tool_merges_arguments(repo_root, monkeypatch):
    import importlib.util

    from mmengine.config import Config

    spec = importlib.util.spec_from_file_location(
        'tdsclip_train_tool', repo_root / 'tools' / 'train.py'
    )
    train_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_tool)
    monkeypatch.setattr(
        'sys.argv',
        [
            'train.py',
            str(CONFIG),
            '--work-dir',
            'wd',
            '--resume',
            'a.pth',
            '--seed',
            '3',
            '--no-validate',
            '--cfg-options',
            'train_cfg.max_epochs=5',
            '--launcher',
            'pytorch',
        ],
    )
    args = train_tool.parse_args()
    cfg = train_tool.merge_args(Config.fromfile(str(CONFIG)), args)
    assert cfg.work_dir == 'wd'
    assert cfg.resume is True and cfg.load_from == 'a.pth'
    assert cfg.randomness.seed == 3
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.launcher == 'pytorch'

    monkeypatch.setattr('sys.argv', ['train.py', str(CONFIG), '--resume'])
    cfg = train_tool.merge_args(Config.fromfile(str(CONFIG)), train_tool.parse_args())
    # Bare --resume: the latest checkpoint of the work dir.
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == f'./work_dirs/{CONFIG.stem}'  # as MMAction2's train.py


def test_mim_search_finds_the_installed_plugin(repo_root, subprocess_env, tmp_path, source_copy):
    """A wheel of the plugin carries .mim/model-index.yml and .mim/configs/,
    so ``mim search mmaction-tdsclip`` lists its model zoo once installed
    (here: the wheel unpacked ahead of the editable install on the path)."""
    import zipfile

    wheels = tmp_path / 'wheels'
    run_tool(
        ['pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), '.'],
        source_copy,
        subprocess_env,
        'pip_wheel.log',
    )
    (wheel,) = wheels.glob('*.whl')
    site = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert 'mmaction_tdsclip/.mim/model-index.yml' in names
    assert 'mmaction_tdsclip/.mim/configs/tdsclip/metafile.yml' in names
    assert 'mmaction_tdsclip/.mim/configs/_base_/default_runtime.py' in names

    env = dict(subprocess_env, PYTHONPATH=str(site))
    log = run_tool(
        ['mim', 'search', 'mmaction-tdsclip', '--model', 'tdsclip', '--valid-config'],
        tmp_path,
        env,
        'mim_search.log',
    )
    shipped = sorted(p.stem for p in (repo_root / 'configs' / 'tdsclip').glob('*.py'))
    assert all(f"'{name}'" in log for name in shipped), log[-2000:]
    log = run_tool(
        ['mim', 'search', 'mmaction-tdsclip', '--dataset', 'sthv2', '--field', 'config'],
        tmp_path,
        env,
        'mim_search_sthv2.log',
    )
    # B/16 8x5 (webm and frames), B/16 16x5, L/14 8x5.
    assert log.count('config id: ') == 4


def test_demo_config_dist_train_on_two_cpu_processes(
    repo_root, subprocess_env, tmp_path, free_port
):
    """The main job's config under this repo's dist_train.sh with 2 CPU
    processes: default_runtime's DDP settings (device_ids=None, gloo), the
    plugin's decoders and every safety hook (dist_test.sh on a config with the
    same runtime: test_mmaction_dist_test_two_processes_gathers_every_view_once)."""
    run_tool(
        [
            'python',
            str(repo_root / 'tools' / 'data' / 'make_reversal_dataset.py'),
            'data/reversal_demo',
            '--num-videos',
            '36',
            '--workers',
            '1',
        ],
        tmp_path,
        subprocess_env,
        'make_data.log',
    )
    config = str(repo_root / 'configs' / 'demo' / 'tdsclip_tiny_reversal.py')
    # 3 epochs: the cosine starts after the 2 warm-up epochs and ends at
    # max_epochs.
    loaders = [f'{s}_dataloader.num_workers=0' for s in ('train', 'val')]
    log = run_tool(
        ['bash', str(repo_root / 'tools' / 'dist_train.sh'), config, '2']
        + ['--work-dir', 'train', '--cfg-options', 'train_cfg.max_epochs=3']
        + ['train_dataloader.batch_size=2', *loaders],
        tmp_path,
        subprocess_env,
        'demo_dist_train.log',
        port=free_port(),
    )
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    for hook in (
        'TDSConfigCheckHook',
        'NaNGuardHook',
        'SkippedSamplesHook',
        'AtomicCheckpointHook',
    ):
        assert hook in log
    assert (tmp_path / 'train' / 'epoch_3.pth').is_file()
