"""A run killed with SIGKILL mid-epoch resumes to the same weights and metrics.

Each scenario trains the tiny TDS-CLIP of ``_reliability_worker.py`` on CPU
in three separate processes: uninterrupted; a victim that waits after a
given iteration (past a checkpoint, before the next) and gets SIGKILL; and
the victim's work dir resumed with ``resume=True`` (what ``tools/train.py
--resume`` sets).

Why exact equality is expected: the checkpoint restores weights, optimizer
moments, scheduler state, the iteration and the message hub; everything
else is a function of the seed and the position in training:

- ``iter``: IterBasedTrainLoop with an InfiniteSampler (seeded generator),
  checkpoint every 4 iterations, killed after iteration 6. On resume
  mmengine replays the sampler by drawing the 4 trained batches again, so
  the numpy RNG of the augmentation (main process, ``num_workers=0``) is
  consumed exactly as in the uninterrupted run.
- ``epoch``: EpochBasedTrainLoop, checkpoint at each epoch end, killed in
  the middle of epoch 3. The epoch restarts from its beginning; the
  DefaultSampler shuffles with ``seed + epoch``, and the augmentation runs
  in a non-persistent worker that mmengine re-seeds identically at every
  epoch. (With ``num_workers=0`` or persistent workers the augmentation RNG
  would not be restored and the runs would differ: see
  docs/reliability.md.)

The model has no dropout, and every process uses one thread.
"""

import json
import os
import os.path as osp
import signal
import time

import pytest
import torch
from _reliability_worker import start

MAX_WAIT_S = 240

SCENARIOS = {
    'iter': dict(
        args=['--loop', 'iter', '--max-steps', '12', '--ckpt-interval', '4'],
        pause_at=6,
        checkpoints=['iter_4.pth'],
        resumed_at=4,
    ),
    'epoch': dict(
        args=['--loop', 'epoch', '--max-steps', '4', '--ckpt-interval', '1', '--num-workers', '1'],
        pause_at=8,
        checkpoints=['epoch_1.pth', 'epoch_2.pth'],
        resumed_at=6,
    ),
}
TOTAL_ITERS = 12


def _log(work_dir):
    with open(osp.join(work_dir, 'stdout.log'), errors='replace') as f:
        return f.read()[-4000:]


def _wait_for(path, proc, work_dir):
    deadline = time.monotonic() + MAX_WAIT_S
    while not osp.exists(path):
        if not proc.is_alive():
            pytest.fail(
                f'{work_dir}: exited with {proc.exitcode} before {path} appeared:\n{_log(work_dir)}'
            )
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f'{work_dir}: {path} did not appear in {MAX_WAIT_S} s:\n{_log(work_dir)}')
        time.sleep(0.2)


def _finish(proc, work_dir):
    proc.join(MAX_WAIT_S)
    if proc.is_alive():
        proc.kill()
        pytest.fail(f'{work_dir}: still running after {MAX_WAIT_S} s:\n{_log(work_dir)}')
    assert proc.exitcode == 0, f'{work_dir} failed with {proc.exitcode}:\n{_log(work_dir)}'


def _result(work_dir):
    with open(osp.join(work_dir, 'result.json')) as f:
        result = json.load(f)
    result['state'] = torch.load(osp.join(work_dir, 'final_state.pt'))
    return result


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Both scenarios, run side by side: baselines and victims, then the resumes."""
    root = tmp_path_factory.mktemp('crash_resume')
    dirs = {
        mode: (str(root / f'{mode}_baseline'), str(root / f'{mode}_killed')) for mode in SCENARIOS
    }
    baselines = {mode: start(dirs[mode][0], *s['args']) for mode, s in SCENARIOS.items()}
    victims = {
        mode: start(dirs[mode][1], *s['args'], '--pause-at', str(s['pause_at']))
        for mode, s in SCENARIOS.items()
    }
    at_kill = {}
    for mode, proc in victims.items():
        work_dir = dirs[mode][1]
        _wait_for(osp.join(work_dir, 'paused'), proc, work_dir)
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            pointer = f.read()
        at_kill[mode] = dict(pointer=pointer, files=sorted(os.listdir(work_dir)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(MAX_WAIT_S)
        at_kill[mode]['returncode'] = proc.exitcode
    resumed = {mode: start(dirs[mode][1], *s['args'], '--resume') for mode, s in SCENARIOS.items()}
    for mode in SCENARIOS:
        _finish(baselines[mode], dirs[mode][0])
        _finish(resumed[mode], dirs[mode][1])
    return {
        mode: dict(
            baseline=_result(dirs[mode][0]),
            resumed=_result(dirs[mode][1]),
            at_kill=at_kill[mode],
            work_dir=dirs[mode][1],
        )
        for mode in SCENARIOS
    }


@pytest.mark.parametrize('mode', sorted(SCENARIOS))
def test_victim_was_killed_between_checkpoints(runs, mode):
    run, expected = runs[mode], SCENARIOS[mode]
    assert run['at_kill']['returncode'] == -signal.SIGKILL
    assert run['at_kill']['pointer'] == osp.join(run['work_dir'], expected['checkpoints'][-1])
    # Killed after the pause iteration, before the next checkpoint.
    assert [f for f in run['at_kill']['files'] if f.endswith('.pth')] == expected['checkpoints']


@pytest.mark.parametrize('mode', sorted(SCENARIOS))
def test_resumed_run_matches_uninterrupted_run(runs, mode):
    baseline, resumed = runs[mode]['baseline'], runs[mode]['resumed']
    # The resumed process really continued from the checkpoint (a run that
    # started over would also end with equal weights).
    assert baseline['start_iter'] == 0
    assert resumed['start_iter'] == SCENARIOS[mode]['resumed_at']
    assert baseline['end_iter'] == resumed['end_iter'] == TOTAL_ITERS
    assert baseline['state'].keys() == resumed['state'].keys()
    mismatched = [
        k for k in baseline['state'] if not torch.equal(baseline['state'][k], resumed['state'][k])
    ]
    assert not mismatched, f'weights differ after resume: {mismatched[:5]}'
    assert resumed['metrics'] == baseline['metrics']
    assert set(baseline['metrics']) >= {'acc/top1', 'acc/mean1'}


def test_training_changed_the_weights(runs):
    """Guards the comparison above against a run that trains nothing."""
    for mode in SCENARIOS:
        initial = torch.load(
            osp.join(runs[mode]['work_dir'], '..', f'{mode}_baseline', 'initial_state.pt')
        )
        trained = runs[mode]['baseline']['state']
        changed = [
            k for k in trained if k.startswith('neck.') and not torch.equal(initial[k], trained[k])
        ]
        assert len(changed) > 10, mode
