"""The main job: TDS-CLIP against two baselines on an embedded
time-reversal dataset, end to end on a CPU in minutes.

Steps:

1. Render the procedural dataset (``tools/data/make_reversal_dataset.py``)
   unless it already exists with the same parameters. Its classes come in
   time-reversed pairs whose clips hold the same frames in opposite order.
2. Train and multi-view test three models from ``configs/demo/`` through
   MMEngine's ``Runner.from_cfg`` (the code path of ``tools/train.py`` and
   ``mim train``):

   * TDS-CLIP (TD-Adapter and SME-Adapter on),
   * Side4Video (the same side network with TD and SME off),
   * a frame-averaging baseline on the same frozen backbone.

3. Print and save a table (top-1 overall, top-1 within reversal pairs,
   trainable parameters, training time) and a plot (training-loss curves and
   the TDS-CLIP confusion matrix).

"Within reversal pairs" scores each test clip only on its own class against
its time-reversed twin: a model that ignores frame order scores 50 %.

Usage::

    python tools/main_job.py [--out-dir outputs/main_job] [--quick] [--seeds 0,1,2]

Each model is trained and tested once per training seed (0, 1, 2 by default)
(on the same dataset) and the table gives the mean and the sample standard
deviation over seeds. ``results.json`` holds every run; the README's table is
made from a committed copy of it (``docs/results/main_job.json``, see
:func:`readme_table`).
"""

import argparse
import json
import os
import os.path as osp
import pickle
import platform
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'data'))

import make_reversal_dataset as mrd  # noqa: E402

#: (key, display name, config) of the compared models, in table order.
MODELS = (
    ('tdsclip', 'TDS-CLIP', 'configs/demo/tdsclip_tiny_reversal.py'),
    ('side4video', 'Side4Video (TD, SME off)', 'configs/demo/side4video_tiny_reversal.py'),
    ('frameavg', 'Frame averaging', 'configs/demo/frameavg_tiny_reversal.py'),
)

#: Frames and size of the rendered clips. 33 = 4 * T + 1 frames (T = 8): with
#: the 'sth' test offsets the test clips of a video and of its time reversal
#: then hold the same frames (see the note in the configs).
CLIP_FRAMES, CLIP_SIZE = 33, 64

#: Dataset and schedule of the full run and of ``--quick`` (a smoke test). Sized so that the
#: documented run (``--seeds 0,1,2``: three models, three seeds) takes about 25 minutes on an
#: idle 2-core CPU.
FULL = dict(num_videos=1200, epochs=10, val_interval=5, seeds='0,1,2')
# 36 clips: three sequences per motion kind, one each for train, val, test.
QUICK = dict(num_videos=36, epochs=1, val_interval=1, seeds='0')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train and test TDS-CLIP, Side4Video and a frame-'
        'averaging baseline on the embedded time-reversal dataset.'
    )
    parser.add_argument(
        '--out-dir',
        default=osp.join('outputs', 'main_job'),
        help='where the table, plot and work dirs go',
    )
    parser.add_argument(
        '--data-root',
        default=None,
        help='dataset folder (default: data/reversal_demo, data/reversal_demo_quick with --quick)',
    )
    parser.add_argument('--quick', action='store_true', help='smoke test: few clips, one epoch')
    parser.add_argument(
        '--num-videos',
        type=int,
        default=None,
        help='clips in the dataset (default: %d, quick: %d)'
        % (FULL['num_videos'], QUICK['num_videos']),
    )
    parser.add_argument(
        '--epochs',
        type=int,
        default=None,
        help='training epochs (default: %d, quick: %d)' % (FULL['epochs'], QUICK['epochs']),
    )
    parser.add_argument(
        '--seeds',
        default=None,
        help='comma-separated training seeds: one run per model and seed, mean and standard '
        'deviation in the table (default: %s, quick: %s)' % (FULL['seeds'], QUICK['seeds']),
    )
    parser.add_argument('--data-seed', type=int, default=0, help='seed of the dataset')
    parser.add_argument(
        '--models',
        default=','.join(m[0] for m in MODELS),
        help='comma-separated subset of: ' + ', '.join(m[0] for m in MODELS),
    )
    parser.add_argument(
        '--verbose', action='store_true', help='show the full MMEngine log on the console'
    )
    parser.add_argument(
        '--publish',
        metavar='RESULTS_JSON',
        help='instead of running: copy this results.json of the documented run to '
        'docs/results/main_job.json and write its table into README.md',
    )
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------
def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``scores`` (N, C) against ``labels`` (N,)."""
    return float((scores.argmax(1) == labels).mean())


def pair_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy within time-reversed pairs.

    Each clip is judged only on its own class against its reversed twin
    (``label ^ 1``): correct when its own class scores higher, half correct
    on a tie, so a model blind to frame order scores exactly 0.5 on a test
    set holding both clips of every pair.

    Args:
        scores: (N, C) class scores.
        labels: (N,) integer labels.
    """
    idx = np.arange(len(labels))
    own = scores[idx, labels]
    twin = scores[idx, labels ^ 1]
    return float(np.mean((own > twin) + 0.5 * (own == twin)))


def pair_accuracy_by_kind(scores: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """:func:`pair_accuracy` of each pair of classes, keyed
    ``'<forward class>/<reversed class>'``."""
    out = {}
    for k, (fwd, rev) in enumerate(mrd.PAIRS):
        mask = labels // 2 == k
        if mask.any():
            out[f'{fwd}/{rev}'] = pair_accuracy(scores[mask], labels[mask])
    return out


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, scores.argmax(1)), 1)
    return cm


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------
def _progress_hook_cls():
    """A hook that records the training loss of every iteration and prints
    one compact line per epoch (built lazily: mmengine imports are slow)."""
    from mmengine.hooks import Hook

    class MainJobProgressHook(Hook):
        priority = 'LOW'

        def __init__(self, name: str) -> None:
            self.name = name
            self.iters: List[int] = []
            self.losses: List[float] = []
            self._epoch_losses: List[float] = []
            self._start = time.time()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            loss = float(outputs['loss'].detach())
            self.iters.append(runner.iter + 1)
            self.losses.append(loss)
            self._epoch_losses.append(loss)

        def after_train_epoch(self, runner) -> None:
            lr = runner.optim_wrapper.get_lr()['lr'][0]
            print(
                f'  [{self.name}] epoch {runner.epoch + 1}/'
                f'{runner.max_epochs}  loss '
                f'{np.mean(self._epoch_losses):.3f}  lr {lr:.2e}  '
                f'{time.time() - self._start:5.0f} s',
                flush=True,
            )
            self._epoch_losses = []

        def after_val_epoch(self, runner, metrics=None) -> None:
            if metrics:
                top1 = metrics.get('acc/top1', float('nan'))
                print(f'  [{self.name}] val top-1 (single view) {100 * top1:.1f} %', flush=True)

    return MainJobProgressHook


def _set_data_root(cfg, data_root: str) -> None:
    for split, loader in (
        ('train', cfg.train_dataloader),
        ('val', cfg.val_dataloader),
        ('test', cfg.test_dataloader),
    ):
        loader.dataset.ann_file = osp.join(data_root, f'{split}.txt')
        loader.dataset.data_prefix = dict(video=data_root)


def build_config(
    config: str,
    work_dir: str,
    data_root: str,
    epochs: int,
    val_interval: int,
    seed: int,
    dump_file: str,
    experiment_name: str,
    verbose: bool,
):
    """Load a demo config and point it at this run's data and folders."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    _set_data_root(cfg, data_root)
    cfg.work_dir = work_dir
    cfg.experiment_name = experiment_name
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.log_level = 'INFO' if verbose else 'WARNING'
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = min(val_interval, epochs)
    # Keep the warm-up / cosine schedule proportional to the epochs.
    warmup = min(2, max(epochs - 1, 0))
    schedulers = [
        dict(
            type='CosineAnnealingLR',
            T_max=epochs - warmup,
            eta_min=0,
            by_epoch=True,
            begin=warmup,
            end=epochs,
            convert_to_iter_based=True,
        )
    ]
    if warmup:
        schedulers.insert(
            0,
            dict(
                type='LinearLR',
                start_factor=0.1,
                by_epoch=True,
                begin=0,
                end=warmup,
                convert_to_iter_based=True,
            ),
        )
    cfg.param_scheduler = schedulers
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, list):
        evaluators = [evaluators]
    cfg.test_evaluator = evaluators + [dict(type='DumpResults', out_file_path=dump_file)]
    return cfg


def run_model(
    key: str,
    name: str,
    config: str,
    args: argparse.Namespace,
    data_root: str,
    epochs: int,
    val_interval: int,
    seed: int,
) -> Dict:
    """Train and test one model with one training seed; returns its row of the results."""
    import torch
    from mmengine.runner import Runner

    work_dir = osp.join(args.out_dir, 'work_dirs', f'{key}_seed{seed}')
    dump_file = osp.join(work_dir, 'test_scores.pkl')
    cfg = build_config(
        config,
        work_dir,
        data_root,
        epochs,
        val_interval,
        seed,
        dump_file,
        f'{key}_{time.strftime("%Y%m%d_%H%M%S")}',
        args.verbose,
    )
    runner = Runner.from_cfg(cfg)
    hook = _progress_hook_cls()(f'{name}, seed {seed}')
    runner.register_hook(hook)
    trainable = sum(p.numel() for p in runner.model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in runner.model.parameters() if not p.requires_grad)
    print(
        f'[{name}] {config}: {trainable / 1e3:.1f} K trainable, '
        f'{frozen / 1e3:.1f} K frozen parameters; training {epochs} '
        f'epochs',
        flush=True,
    )
    start = time.time()
    runner.train()
    train_time = time.time() - start
    start = time.time()
    with torch.no_grad():
        metrics = runner.test()
    test_time = time.time() - start
    with open(dump_file, 'rb') as f:
        samples = pickle.load(f)
    scores = np.stack([np.asarray(s['pred_score']) for s in samples])
    labels = np.array([int(np.asarray(s['gt_label']).reshape(-1)[0]) for s in samples])
    row = dict(
        key=key,
        model=name,
        config=config,
        seed=seed,
        top1=top1_accuracy(scores, labels),
        pair_top1=pair_accuracy(scores, labels),
        pair_top1_by_kind=pair_accuracy_by_kind(scores, labels),
        runner_top1=float(metrics.get('acc/top1', float('nan'))),
        trainable_params=int(trainable),
        train_time_s=train_time,
        test_time_s=test_time,
        num_test_clips=int(len(labels)),
        loss_iters=hook.iters,
        losses=hook.losses,
        confusion=confusion_matrix(scores, labels, scores.shape[1]).tolist(),
    )
    print(
        f'[{name}] test top-1 {100 * row["top1"]:.1f} %, within pairs '
        f'{100 * row["pair_top1"]:.1f} %  (train {train_time:.0f} s, '
        f'test {test_time:.0f} s)',
        flush=True,
    )
    return row


# ----------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------
def summarize(rows: List[Dict]) -> List[Dict]:
    """Per model (in table order): mean and sample standard deviation over seeds.

    Returns:
        One dict per model with ``key``, ``model``, ``seeds``, ``trainable_params`` and, for
        ``top1``, ``pair_top1`` and ``train_time_s``, ``<metric>_mean`` and ``<metric>_std``
        (0 for a single seed).
    """
    out = []
    for key in dict.fromkeys(r['key'] for r in rows):
        runs = [r for r in rows if r['key'] == key]
        entry = dict(
            key=key,
            model=runs[0]['model'],
            seeds=[r['seed'] for r in runs],
            trainable_params=runs[0]['trainable_params'],
        )
        for metric in ('top1', 'pair_top1', 'train_time_s'):
            values = np.array([r[metric] for r in runs], dtype=float)
            entry[f'{metric}_mean'] = float(values.mean())
            entry[f'{metric}_std'] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def format_table(summary: List[Dict]) -> str:
    """The per-model results (see :func:`summarize`) as a markdown table: percentages as
    ``mean ± std`` over seeds (the mean alone for one seed), training time per run."""

    def pct(entry, metric):
        text = f'{100 * entry[f"{metric}_mean"]:.1f}'
        if len(entry['seeds']) > 1:
            text += f' ± {100 * entry[f"{metric}_std"]:.1f}'
        return text + ' %'

    lines = [
        '| model | top-1 overall | top-1 within reversal pairs | '
        'trainable params | training time per run |',
        '|---|---|---|---|---|',
    ]
    for e in summary:
        lines.append(
            f'| {e["model"]} | {pct(e, "top1")} | {pct(e, "pair_top1")} | '
            f'{e["trainable_params"] / 1e3:.1f} K | {e["train_time_s_mean"]:.0f} s |'
        )
    return '\n'.join(lines)


def parse_table(text: str) -> Dict[str, Dict[str, float]]:
    """Read back a table written by :func:`format_table`: per model name, the percentages
    (``top1``, ``pair_top1`` and their ``_std``, as fractions), ``trainable_params`` and
    ``train_time_s``."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 5 or cells[0] == 'model' or set(cells[1]) <= set('-'):
            continue
        row = {}
        for metric, cell in (('top1', cells[1]), ('pair_top1', cells[2])):
            mean, _, std = cell.rstrip(' %').partition('±')
            row[metric] = float(mean) / 100
            row[f'{metric}_std'] = float(std) / 100 if std else 0.0
        row['trainable_params'] = float(cells[3].rstrip(' K')) * 1e3
        row['train_time_s'] = float(cells[4].rstrip(' s'))
        out[cells[0]] = row
    return out


def machine_info() -> Dict:
    """CPU cores available to this process and the processor's name."""
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        name = names[0] if names else name
    except OSError:
        pass
    return dict(cpus=len(os.sched_getaffinity(0)), processor=name)


def readme_table(results: Dict) -> str:
    """The README's main-job block for a ``results.json``: command, machine, date, table."""
    m = results['machine']
    return (
        f'`{results["command"]}` on {m["cpus"]} CPU cores ({m["processor"]}), '
        f'{results["date"]}, {results["total_time_s"] / 60:.0f} min in all:\n\n'
        f'{format_table(results["summary"])}'
    )


def format_pair_table(rows: List[Dict]) -> str:
    """Top-1 within reversal pairs, per pair of classes, as markdown."""
    kinds = list(rows[0]['pair_top1_by_kind'])
    lines = [
        '| model | ' + ' | '.join(kinds) + ' |',
        '|---|' + '---|' * len(kinds),
    ]
    for r in rows:
        accs = r['pair_top1_by_kind']
        lines.append(
            f'| {r["model"]} | ' + ' | '.join(f'{100 * accs[k]:.0f} %' for k in kinds) + ' |'
        )
    return '\n'.join(lines)


def plot_results(rows: List[Dict], classes: Sequence[str], path: str) -> None:
    """Training-loss curves of every model and the confusion matrix of the
    first (TDS-CLIP) into one PNG."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_cm) = plt.subplots(
        1, 2, figsize=(13, 5.5), gridspec_kw=dict(width_ratios=[1, 1.1])
    )
    for r in rows:
        losses = np.asarray(r['losses'], dtype=float)
        if not len(losses):
            continue
        (line,) = ax_loss.plot(r['loss_iters'], losses, alpha=0.25)
        win = max(1, min(20, len(losses) // 5))
        smooth = np.convolve(losses, np.ones(win) / win, mode='valid')
        ax_loss.plot(
            r['loss_iters'][win - 1 :],
            smooth,
            color=line.get_color(),
            label=f'{r["model"]} (pairs {100 * r["pair_top1"]:.0f} %)',
        )
    ax_loss.set_xlabel('iteration')
    ax_loss.set_ylabel('training loss')
    ax_loss.set_title('Training loss (faint: per iteration)')
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)

    first = rows[0]
    cm = np.asarray(first['confusion'])
    ax_cm.imshow(cm, cmap='Blues')
    ax_cm.set_xticks(range(len(classes)), classes, rotation=60, ha='right', fontsize=7)
    ax_cm.set_yticks(range(len(classes)), classes, fontsize=7)
    for i, j in zip(*np.nonzero(cm)):
        ax_cm.text(
            j,
            i,
            str(cm[i, j]),
            ha='center',
            va='center',
            fontsize=7,
            color='white' if cm[i, j] > cm.max() / 2 else 'black',
        )
    ax_cm.set_xlabel('predicted')
    ax_cm.set_ylabel('true')
    ax_cm.set_title(f'{first["model"]} confusion matrix (test, top-1 {100 * first["top1"]:.1f} %)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: Where the documented run's results are committed, and the README block made from them.
PUBLISHED_RESULTS = osp.join(REPO_ROOT, 'docs', 'results', 'main_job.json')
README_BLOCK = ('<!-- main-job-results -->', '<!-- /main-job-results -->')


def publish(results_path: str, readme: str = osp.join(REPO_ROOT, 'README.md')) -> None:
    """Commit-ready copy of a documented run: ``docs/results/main_job.json`` and the README
    block between the ``main-job-results`` markers."""
    with open(results_path) as f:
        results = json.load(f)
    os.makedirs(osp.dirname(PUBLISHED_RESULTS), exist_ok=True)
    with open(PUBLISHED_RESULTS, 'w') as f:
        json.dump(results, f, indent=1)
    with open(readme) as f:
        text = f.read()
    start, end = README_BLOCK
    if start not in text or end not in text:
        raise SystemExit(f'{readme} has no {start} ... {end} block to fill.')
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    with open(readme, 'w') as f:
        f.write(f'{head}{start}\n{readme_table(results)}\n{end}{tail}')
    print(f'Wrote {PUBLISHED_RESULTS} and the table in {readme}.')


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    args = parse_args(argv)
    if args.publish:
        publish(args.publish)
        return []
    # mmcv-lite has no compiled ops by design; recognition does not use them.
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    preset = QUICK if args.quick else FULL
    num_videos = args.num_videos or preset['num_videos']
    epochs = args.epochs or preset['epochs']
    data_root = args.data_root or osp.join(
        'data', 'reversal_demo_quick' if args.quick else 'reversal_demo'
    )
    selected = args.models.split(',')
    unknown = set(selected) - {m[0] for m in MODELS}
    if unknown:
        raise SystemExit(f'unknown models {sorted(unknown)}')
    os.makedirs(args.out_dir, exist_ok=True)
    job_start = time.time()

    frames, size = CLIP_FRAMES, CLIP_SIZE
    if mrd.dataset_matches(data_root, num_videos, args.data_seed, frames, size):
        print(f'Dataset: reusing {data_root}', flush=True)
    else:
        start = time.time()
        meta = mrd.make_dataset(data_root, num_videos, args.data_seed, frames, size)
        print(
            f'Dataset: {meta["num_videos"]} clips ({meta["counts"]}) of '
            f'{frames} frames {size}x{size} in {len(mrd.CLASSES)} classes '
            f'-> {data_root} ({time.time() - start:.1f} s)',
            flush=True,
        )

    seeds = [int(x) for x in (args.seeds or preset['seeds']).split(',')]
    rows = []
    for seed in seeds:
        for key, name, config in MODELS:
            if key in selected:
                rows.append(
                    run_model(
                        key, name, config, args, data_root, epochs, preset['val_interval'], seed
                    )
                )

    summary_rows = summarize(rows)
    table = format_table(summary_rows)
    first = [r for r in rows if r['seed'] == seeds[0]]
    pair_table = format_pair_table(first)
    total = time.time() - job_start
    command = ' '.join(
        ['python tools/main_job.py'] + list(argv if argv is not None else sys.argv[1:])
    )
    results = dict(
        command=command,
        date=time.strftime('%Y-%m-%d', time.gmtime()),
        machine=machine_info(),
        total_time_s=total,
        dataset=dict(
            root=data_root,
            num_videos=num_videos,
            seed=args.data_seed,
            frames=frames,
            size=size,
            classes=list(mrd.CLASSES),
        ),
        epochs=epochs,
        seeds=seeds,
        summary=summary_rows,
        models=rows,
    )
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    with open(osp.join(args.out_dir, 'results.md'), 'w') as f:
        f.write(
            f'{readme_table(results)}\n\n'
            f'Top-1 within reversal pairs, per pair (seed {seeds[0]}):\n\n{pair_table}\n'
        )
    plot_results(first, mrd.CLASSES, osp.join(args.out_dir, 'main_job.png'))
    print()
    print(table)
    print(f'\nTop-1 within reversal pairs, per pair (seed {seeds[0]}):\n')
    print(pair_table)
    print(
        f'\nTotal time {total:.0f} s. Table, JSON and plot in '
        f'{args.out_dir}/ (results.md, results.json, main_job.png)'
    )
    return rows


if __name__ == '__main__':
    main()
