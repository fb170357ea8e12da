"""Test a recognizer checkpoint from an MMAction2-style config.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump PKL]
        [--show-dir DIR] [--show] [--interval N] [--wait-time SECONDS]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}] [--local_rank N]

Every option of MMAction2 1.2's ``tools/test.py`` is accepted with the same
meaning. ``--show-dir DIR`` writes, for every ``--interval``-th test video,
its frames with the ground truth and the top-5 classes and scores drawn
(``DIR/<video>_0/frames_0/<frame>.png``); of a multi-view test (clips x
crops) one view is drawn, view 0 unless
``default_hooks.visualization.view`` says otherwise
(``mmaction_tdsclip.engine.hooks.SingleViewVisualizationHook``).

Distributed: ``bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args]``.
The checkpoint is read with ``weights_only=True`` (see
``mmaction_tdsclip.compat.allow_mmengine_checkpoints``).
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmaction_tdsclip  # noqa: F401  (start-up hook, compat shims, registration)
from mmaction_tdsclip.datasets.annotation_lists import dataset_has_labels
from mmaction_tdsclip.utils.cfg_options import check_cfg_options
from mmaction_tdsclip.weights import CheckpointFormatError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a recognizer')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='where logs and metrics go (default: work_dirs/<config>)'
    )
    parser.add_argument(
        '--dump',
        help='also write every prediction (data samples with pred_score, '
        'gt_label and meta) to this .pkl file',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=4',
    )
    parser.add_argument(
        '--show-dir',
        help='write each test video (one view) with its top-5 classes and scores drawn here',
    )
    parser.add_argument('--show', action='store_true', help='display the drawn frames in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='draw every N-th test video (default 1)'
    )
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='with --show: seconds to show the last frame of each video',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir is not None:
        visualization = cfg.get('default_hooks', {}).get('visualization')
        if visualization is None:
            raise KeyError(
                f'--show / --show-dir need a visualization hook in {args.config}: set '
                "default_hooks.visualization=dict(type='SingleViewVisualizationHook') "
                '(configs/_base_/default_runtime.py has it).'
            )
        visualization.update(
            enable=True,
            show=args.show,
            wait_time=args.wait_time,
            out_dir=args.show_dir,
            interval=args.interval,
        )
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError('--dump must name a .pkl or .pickle file')
        dump = dict(type='DumpResults', out_file_path=args.dump)
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dump]
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)  # a misspelled top-level key is refused
        cfg.merge_from_dict(args.cfg_options)
    if args.dump is not None and dataset_has_labels(cfg.test_dataloader.dataset) is False:
        cfg.test_evaluator = [dump]  # a list without labels: predictions only, no metric
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    if 'runner_type' in cfg:
        from mmaction.registry import RUNNERS

        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    try:
        runner.test()
    except CheckpointFormatError as err:
        # The message names the file, what is wrong and what to do: no traceback.
        raise SystemExit(f'test.py: error: {err}') from None


if __name__ == '__main__':
    main()
