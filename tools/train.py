"""Train a recognizer from an MMAction2-style config.

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
        [--resume-lr-scale FACTOR] [--amp] [--no-validate] [--auto-scale-lr]
        [--seed N] [--diff-rank-seed] [--deterministic] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}] [--local_rank N]

Every option of MMAction2 1.2's ``tools/train.py`` is accepted with the same
meaning, with one difference: ``--seed``, ``--diff-rank-seed`` and
``--deterministic`` also apply when the config sets ``randomness`` (MMAction2's
script then ignores them), overriding the config's values.
``--resume-lr-scale`` is this repository's addition (see
``mmaction_tdsclip.engine.hooks.ResumeLRScaleHook``): resuming restores the
learning rate and schedulers from the checkpoint, so the config's
``optim_wrapper.optimizer.lr`` does not change a resumed run; this option
scales them.

Distributed: ``bash tools/dist_train.sh CONFIG NUM_PROCS [args]``.
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmaction_tdsclip  # noqa: F401  (start-up hook, compat shims, registration)
from mmaction_tdsclip.engine.hooks import ResumeLRScaleHook
from mmaction_tdsclip.utils.cfg_options import check_cfg_options
from mmaction_tdsclip.utils.config_checks import ConfigCheckError, check_param_schedulers
from mmaction_tdsclip.weights import CheckpointFormatError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a recognizer')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--work-dir', help='where logs and checkpoints go (default: work_dirs/<config>)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir',
    )
    parser.add_argument(
        '--resume-lr-scale',
        type=float,
        metavar='FACTOR',
        help='with --resume: multiply the resumed learning rate and the resumed '
        'schedulers by FACTOR (e.g. 0.1 after a nan loss)',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training'
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size over '
        'auto_scale_lr.base_batch_size (the batch size it was tuned for)',
    )
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='a different seed on each rank (seed + rank)',
    )
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (cudnn.deterministic, no cudnn.benchmark)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=5 optim_wrapper.optimizer.lr=1e-4',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.resume_lr_scale is not None:
        if args.resume is None:
            parser.error('--resume-lr-scale needs --resume [CHECKPOINT]')
        if not args.resume_lr_scale > 0:
            parser.error(f'--resume-lr-scale must be > 0, got {args.resume_lr_scale}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config (``--cfg-options`` last)."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
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
    if args.auto_scale_lr:
        cfg.auto_scale_lr = dict(cfg.get('auto_scale_lr') or {}, enable=True)
    if cfg.get('randomness') is None:
        cfg.randomness = dict(
            seed=args.seed, diff_rank_seed=args.diff_rank_seed, deterministic=args.deterministic
        )
    else:
        # MMAction2's script ignores these flags here; a flag given is applied.
        if args.seed is not None:
            cfg.randomness.seed = args.seed
        if args.diff_rank_seed:
            cfg.randomness.diff_rank_seed = True
        if args.deterministic:
            cfg.randomness.deterministic = True
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)  # a misspelled top-level key is refused
        cfg.merge_from_dict(args.cfg_options)
    if args.auto_scale_lr and 'base_batch_size' not in cfg.auto_scale_lr:
        raise KeyError(
            f'--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=N) in {args.config} '
            '(or --cfg-options auto_scale_lr.base_batch_size=N): N is the total batch size '
            '(GPUs x samples per GPU) the learning rate was tuned for.'
        )
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        # Here, not in TDSConfigCheckHook: Runner.train() builds the
        # schedulers before any hook's before_run.
        check_param_schedulers(cfg)
    except ConfigCheckError as err:
        raise SystemExit(f'train.py: error: {err}') from None
    if 'runner_type' in cfg:
        from mmaction.registry import RUNNERS

        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if args.resume_lr_scale is not None:
        # Registered here, not in cfg.custom_hooks: the config the Runner
        # dumps into the work dir must not carry a one-off scaling.
        runner.register_hook(ResumeLRScaleHook(args.resume_lr_scale))
    try:
        runner.train()
    except CheckpointFormatError as err:
        # The message names the file, what is wrong and what to do: no traceback.
        raise SystemExit(f'train.py: error: {err}') from None


if __name__ == '__main__':
    main()
