"""Soak run: training survives broken files, a killed dataloader worker and a
SIGKILL of the main process, and ends exactly where an undisturbed run ends.

A tiny TDS-CLIP (frozen 1-layer ViT, 64-wide side network) trains for
``--iters`` iterations (IterBasedTrainLoop, a checkpoint every
``--ckpt-interval``, 2 dataloader workers) on real video files through the
shipped loading steps (``TDSPyAVInit`` + ``SampleTDSFrames`` +
``TDSPyAVDecode``); 10 % of the training files are broken (a VP9 webm cut to
30 % of its bytes, a text file named ``.mp4``). Two runs:

- **clean**: trains from start to end undisturbed;
- **soak**: one dataloader worker gets SIGKILL mid-run (PyTorch cannot
  carry on without it: the run must stop with a message naming the worker),
  the run is resumed with ``resume=True``; later the main process gets
  SIGKILL between two checkpoints, and the run is resumed again to the end.

The script checks that the worker kill stopped the run with a clear message,
that every broken file was skipped and named, and that the soak run's final
validation metrics and weights equal the clean run's, and prints a summary.
It exits 0 when all checks hold. It is a script, not a test (a few minutes
on 2 CPU cores).

Usage::

    python tools/soak_test.py [--work-dir work_dirs/soak] [--iters 300] [--ckpt-interval 50]
"""

import argparse
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

NUM_SEGMENTS, NUM_LOCAL_FRAMES, IMG_SIZE, NUM_CLASSES = 2, 3, 16, 3


# ----------------------------------------------------------------- the data
def make_data(root: str, num_good: int = 18) -> Dict[str, str]:
    """``num_good`` valid videos plus 2 broken ones (10 %), and the lists."""
    from mmaction_tdsclip.datasets.synthetic import write_video

    video_dir = osp.join(root, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    lines = []
    for i in range(num_good):
        codec, ext = ('libvpx-vp9', 'webm') if i % 3 == 0 else ('libx264', 'mp4')
        name = f'good_{i:02d}.{ext}'
        write_video(osp.join(video_dir, name), 16 + i % 5, 24, 32, codec=codec, gop_size=6)
        lines.append(f'{name} {i % NUM_CLASSES}')
    full = write_video(osp.join(video_dir, 'full.webm'), 40, 24, 32, codec='libvpx-vp9')
    with open(full, 'rb') as f:
        data = f.read()
    with open(osp.join(video_dir, 'broken_cut.webm'), 'wb') as f:
        f.write(data[: int(len(data) * 0.3)])
    os.remove(full)
    with open(osp.join(video_dir, 'broken_text.mp4'), 'w') as f:
        f.write('not a video\n' * 50)
    lines += ['broken_cut.webm 0', 'broken_text.mp4 1']
    train = osp.join(root, 'train.txt')
    with open(train, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    val = osp.join(root, 'val.txt')
    with open(val, 'w') as f:
        f.write('\n'.join(lines[:6]) + '\n')
    return dict(video_dir=video_dir, train=train, val=val)


# ----------------------------------------------------------- the training
def runner_cfg(work_dir: str, data_root: str, iters: int, ckpt_interval: int, resume: bool):
    def pipeline(test_mode: bool) -> List[Dict]:
        return [
            dict(type='TDSPyAVInit', test_mode=test_mode),
            dict(
                type='SampleTDSFrames',
                num_segments=NUM_SEGMENTS,
                num_local_frames=NUM_LOCAL_FRAMES,
                test_mode=test_mode,
            ),
            dict(type='TDSPyAVDecode', test_mode=test_mode),
            dict(type='Resize', scale=(IMG_SIZE, IMG_SIZE), keep_ratio=False),
            dict(type='Flip', flip_ratio=0 if test_mode else 0.5),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs'),
        ]

    def dataset(split: str, test_mode: bool) -> Dict:
        return dict(
            type='VideoDataset',
            ann_file=osp.join(data_root, f'{split}.txt'),
            data_prefix=dict(video=osp.join(data_root, 'videos')),
            pipeline=pipeline(test_mode),
            test_mode=test_mode,
        )

    warmup = iters // 4
    return dict(
        work_dir=work_dir,
        model=dict(
            type='TDSCLIPRecognizer',
            backbone=dict(
                type='FrozenCLIPViT',
                arch=dict(embed_dims=32, num_layers=1, num_heads=2, patch_size=8),
                img_size=IMG_SIZE,
            ),
            neck=dict(
                type='TDSSideNetwork',
                num_segments=NUM_SEGMENTS,
                num_local_frames=NUM_LOCAL_FRAMES,
                side_dim=64,
            ),
            cls_head=dict(
                type='TDSHead', num_classes=NUM_CLASSES, in_channels=64, average_clips='prob'
            ),
            data_preprocessor=dict(
                type='ActionDataPreprocessor',
                mean=[127.5] * 3,
                std=[64.0] * 3,
                format_shape='NCTHW',
            ),
        ),
        train_dataloader=dict(
            batch_size=2,
            num_workers=2,
            persistent_workers=False,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            dataset=dataset('train', False),
        ),
        val_dataloader=dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dataset('val', True),
        ),
        val_cfg=dict(type='ValLoop'),
        val_evaluator=dict(type='AccMetric'),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters),
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05), clip_grad=dict(max_norm=1.0)
        ),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
            dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup, end=iters),
        ],
        default_hooks=dict(
            checkpoint=dict(type='AtomicCheckpointHook', interval=ckpt_interval, by_epoch=False),
            logger=dict(type='LoggerHook', interval=20),
        ),
        custom_hooks=[
            dict(type='NaNGuardHook'),
            dict(type='SkippedSamplesHook'),
            dict(type='SoakProgressHook', out_dir=work_dir),
        ],
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork')),
        randomness=dict(seed=0),
        default_scope='mmaction',
        resume=resume,
        load_from=None,
        log_level='INFO',
    )


def train(args) -> None:
    """The training process (run by the controller in a subprocess)."""
    import torch
    from mmaction.registry import HOOKS
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import mmaction_tdsclip  # noqa: F401  (registration)

    torch.set_num_threads(1)

    @HOOKS.register_module(force=True)
    class SoakProgressHook(Hook):
        """Writes the iteration reached, the final metrics and weights."""

        priority = 'LOWEST'

        def __init__(self, out_dir: str) -> None:
            self.out_dir = out_dir
            self.metrics: Dict = {}

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            # Atomic: a killed worker is reported by a signal handler that
            # may interrupt this write.
            tmp = osp.join(self.out_dir, 'progress.tmp')
            with open(tmp, 'w') as f:
                f.write(str(runner.iter + 1))
            os.replace(tmp, osp.join(self.out_dir, 'progress.txt'))

        def after_val_epoch(self, runner, metrics=None) -> None:
            self.metrics = {k: float(v) for k, v in (metrics or {}).items()}

        def after_train(self, runner) -> None:
            state = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
            torch.save(state, osp.join(self.out_dir, 'final_state.pt'))
            with open(osp.join(self.out_dir, 'result.json'), 'w') as f:
                json.dump(dict(metrics=self.metrics, end_iter=runner.iter), f)

    cfg = runner_cfg(args.train, args.data, args.iters, args.ckpt_interval, args.resume)
    Runner.from_cfg(cfg).train()


# ------------------------------------------------------------ the controller
class Run:
    """A training subprocess with its log."""

    def __init__(self, args, work_dir: str, resume: bool) -> None:
        os.makedirs(work_dir, exist_ok=True)
        self.work_dir = work_dir
        self.log_path = osp.join(work_dir, f'stdout_{int(time.time() * 1000)}.log')
        cmd = [sys.executable, osp.abspath(__file__), '--train', work_dir, '--data', args.data]
        cmd += ['--iters', str(args.iters), '--ckpt-interval', str(args.ckpt_interval)]
        if resume:
            cmd.append('--resume')
        env = dict(os.environ, OMP_NUM_THREADS='1')
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def progress(self) -> int:
        try:
            with open(osp.join(self.work_dir, 'progress.txt')) as f:
                return int(f.read() or 0)
        except (OSError, ValueError):
            return 0

    def wait_for_iter(self, it: int, timeout: float = 1800) -> None:
        deadline = time.time() + timeout
        while self.progress() < it:
            if self.proc.poll() is not None:
                raise RuntimeError(f'training ended before iteration {it}; see {self.log_path}')
            if time.time() > deadline:
                raise TimeoutError(f'iteration {it} not reached; see {self.log_path}')
            time.sleep(0.02)

    def workers(self) -> List[int]:
        path = f'/proc/{self.proc.pid}/task/{self.proc.pid}/children'
        with open(path) as f:
            return [int(p) for p in f.read().split()]

    def finish(self, timeout: float = 3600) -> int:
        code = self.proc.wait(timeout)
        self.log.close()
        return code

    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()


def compare(clean_dir: str, soak_dir: str) -> Dict:
    import torch

    from mmaction_tdsclip.weights import read_checkpoint

    with open(osp.join(clean_dir, 'result.json')) as f:
        clean = json.load(f)
    with open(osp.join(soak_dir, 'result.json')) as f:
        soak = json.load(f)
    a = read_checkpoint(osp.join(clean_dir, 'final_state.pt'))
    b = read_checkpoint(osp.join(soak_dir, 'final_state.pt'))
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    return dict(clean=clean, soak=soak, differing_tensors=differ, tensors=len(a))


def hook_counted_files(work_dir: str) -> List[str]:
    """Files in ``SkippedSamplesHook``'s records (written by the workers)."""
    from mmaction_tdsclip.datasets.bad_samples import read_skip_events

    files = set()
    for root, _, _ in os.walk(work_dir):
        if osp.basename(root) == 'skipped_samples':
            files.update(osp.basename(e['file']) for e in read_skip_events(root, {})[0])
    return sorted(files)


def skipped_files(work_dir: str) -> List[str]:
    """Files named in the runs' "Skipping unreadable video" warnings."""
    files = set()
    for name in os.listdir(work_dir):
        if name.startswith('stdout_'):
            with open(osp.join(work_dir, name)) as f:
                for line in f:
                    if 'Skipping unreadable video ' in line:
                        path = line.split('Skipping unreadable video ')[1].split(': ')[0]
                        files.add(osp.basename(path))
    return sorted(files)


def control(args) -> int:
    root = osp.abspath(args.work_dir)
    if osp.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    start = time.time()
    args.data = osp.join(root, 'data')
    make_data(args.data)
    clean_dir, soak_dir = osp.join(root, 'clean'), osp.join(root, 'soak')
    checks: List[tuple] = []

    clean = Run(args, clean_dir, resume=False)
    code = clean.finish()
    checks.append(('clean run finished', code == 0, f'exit code {code}'))

    # 1. A dataloader worker is killed mid-run.
    worker_at = args.ckpt_interval + args.ckpt_interval // 2
    soak = Run(args, soak_dir, resume=False)
    soak.wait_for_iter(worker_at)
    victim: Optional[int] = soak.workers()[0]
    os.kill(victim, signal.SIGKILL)
    code = soak.finish()
    reached = soak.progress()
    text = soak.output()
    message = next((line.strip() for line in text.splitlines() if 'DataLoader worker' in line), '')
    checks.append(
        (
            f'worker {victim} killed after iteration {worker_at}: run stopped with a message',
            code != 0 and str(victim) in message,
            f'exit code {code} at iteration {reached}: "{message}"',
        )
    )

    # 2. Resume; SIGKILL the main process between two checkpoints.
    kill_at = 3 * args.ckpt_interval + args.ckpt_interval // 2
    soak = Run(args, soak_dir, resume=True)
    soak.wait_for_iter(kill_at)
    os.kill(soak.proc.pid, signal.SIGKILL)
    code = soak.finish()
    for pid in _orphans(soak.proc.pid):
        os.kill(pid, signal.SIGKILL)
    checks.append(
        (
            f'main process SIGKILLed after iteration {kill_at}',
            code == -signal.SIGKILL,
            f'exit code {code} at iteration {soak.progress()}',
        )
    )

    # 3. Resume to the end.
    soak = Run(args, soak_dir, resume=True)
    code = soak.finish()
    checks.append(('soak run resumed to the end', code == 0, f'exit code {code}'))
    if code == 0:
        result = compare(clean_dir, soak_dir)
        checks.append(
            (
                'final val metrics equal the clean run',
                result['clean']['metrics'] == result['soak']['metrics'],
                f'clean {result["clean"]["metrics"]}, soak {result["soak"]["metrics"]}',
            )
        )
        checks.append(
            (
                'final weights equal the clean run (bitwise)',
                not result['differing_tensors'],
                f'{len(result["differing_tensors"])} of {result["tensors"]} tensors differ',
            )
        )
    for name, work_dir in (('clean', clean_dir), ('soak', soak_dir)):
        files = skipped_files(work_dir)
        checks.append(
            (
                f'{name} run skipped and named both broken files',
                files == ['broken_cut.webm', 'broken_text.mp4'],
                ', '.join(files),
            )
        )

    files = hook_counted_files(clean_dir)
    checks.append(
        (
            'SkippedSamplesHook recorded both broken files (clean run)',
            files == ['broken_cut.webm', 'broken_text.mp4'],
            ', '.join(files),
        )
    )
    print(f'Soak run: {args.iters} iterations, checkpoint every {args.ckpt_interval}, ')
    print(f'2 workers, 2 broken of 20 training files; {time.time() - start:.0f} s in all.')
    print('| check | result | detail |')
    print('|---|---|---|')
    for name, ok, detail in checks:
        print(f'| {name} | {"pass" if ok else "FAIL"} | {detail} |')
    return 0 if all(ok for _, ok, _ in checks) else 1


def _orphans(pid: int) -> List[int]:
    """Dataloader workers left behind by a killed main process."""
    out = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/soak')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--ckpt-interval', type=int, default=50)
    parser.add_argument('--train', help=argparse.SUPPRESS)
    parser.add_argument('--data', help=argparse.SUPPRESS)
    parser.add_argument('--resume', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        train(args)
    else:
        sys.exit(control(args))


if __name__ == '__main__':
    main()
