"""Train a recognizer from an MMAction2-style config.

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
        [--amp] [--no-validate] [--seed N] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

Distributed: ``bash tools/dist_train.sh CONFIG NUM_PROCS [args]``.
"""

import argparse
import os
import os.path as osp

from mmaction.registry import RUNNERS
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmaction_tdsclip  # noqa: F401  (compat shims, registration)
from mmaction_tdsclip.utils.cfg_options import check_cfg_options


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a recognizer')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--work-dir', help='where logs and checkpoints go (default: work_dirs/<config>)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training'
    )
    parser.add_argument('--seed', type=int, help='random seed')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=3 optim_wrapper.optimizer.lr=1e-4',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp does not support optim_wrapper type {wrapper!r}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)  # a misspelled top-level key is refused
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
