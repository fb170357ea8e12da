"""Smoke test of the main job (``tools/main_job.py --quick``) and unit tests
of its metrics."""

import json
import os.path as osp
import sys

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

import main_job  # noqa: E402


def test_pair_accuracy_against_hand_count():
    # Classes 0/1 and 2/3 are reversed twins.
    scores = np.array(
        [
            [0.5, 0.1, 0.2, 0.2],  # label 0: own 0.5 > twin 0.1 -> right
            [0.5, 0.1, 0.2, 0.2],  # label 1: own 0.1 < twin 0.5 -> wrong
            [0.1, 0.1, 0.6, 0.2],  # label 2: own 0.6 > twin 0.2 -> right
            [0.3, 0.3, 0.2, 0.2],  # label 3: tie with twin -> half
        ]
    )
    labels = np.array([0, 1, 2, 3])
    assert main_job.pair_accuracy(scores, labels) == pytest.approx(2.5 / 4)
    # Overall top-1: clips 0 and 2 are right, clips 1 and 3 go to class 0.
    assert main_job.top1_accuracy(scores, labels) == pytest.approx(2 / 4)


def test_order_blind_scores_give_exact_chance():
    """A model that gives a clip and its reversal the same scores scores
    exactly 50 % within pairs, whatever the scores are."""
    rng = np.random.default_rng(0)
    forward = rng.random((20, 6))
    labels = np.repeat(np.arange(0, 6, 2), 7)[:20]
    scores = np.concatenate([forward, forward])
    all_labels = np.concatenate([labels, labels ^ 1])
    assert main_job.pair_accuracy(scores, all_labels) == 0.5


def test_confusion_matrix():
    scores = np.eye(3)[[0, 2, 2, 1]]
    cm = main_job.confusion_matrix(scores, np.array([0, 1, 2, 1]), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


@pytest.mark.parametrize('key', [m[0] for m in main_job.MODELS])
def test_test_views_are_reversal_symmetric(key):
    """The frames the test pipeline samples from a clip are, reversed, the
    frames it samples from the clip's time reversal: the premise of the
    frame-averaging baseline scoring exactly chance within pairs."""
    from mmaction.registry import TRANSFORMS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registers SampleTDSFrames)

    init_default_scope('mmaction')
    config = dict((m[0], m[2]) for m in main_job.MODELS)[key]
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    sampler = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'SampleTDSFrames'][0]
    n = sampler['num_local_frames']
    assert n == cfg.model.neck.num_local_frames
    inds = TRANSFORMS.build(sampler)(dict(total_frames=main_job.CLIP_FRAMES, start_index=0))[
        'frame_inds'
    ]
    assert len(inds) == sampler['num_clips'] * sampler['num_segments'] * n
    # Frame i of the reversed clip is frame L - 1 - i of the clip.
    reversed_inds = main_job.CLIP_FRAMES - 1 - inds
    np.testing.assert_array_equal(np.sort(inds), np.sort(reversed_inds))
    # The views are whole windows: the centre frames map onto centre frames.
    centres = inds.reshape(-1, n)[:, n // 2]
    np.testing.assert_array_equal(np.sort(centres), np.sort(main_job.CLIP_FRAMES - 1 - centres))


def test_quick_main_job(tmp_path, capsys):
    out_dir = tmp_path / 'out'
    rows = main_job.main(
        ['--quick', '--out-dir', str(out_dir), '--data-root', str(tmp_path / 'data')]
    )
    printed = capsys.readouterr().out

    names = [m[1] for m in main_job.MODELS]
    assert [r['model'] for r in rows] == names
    with open(out_dir / 'results.json') as f:
        summary = json.load(f)
    assert [m['model'] for m in summary['models']] == names
    md = (out_dir / 'results.md').read_text()
    for name in names:
        assert f'| {name} |' in md
        assert f'| {name} |' in printed
    assert 'top-1 within reversal pairs' in printed

    by_key = {m['key']: m for m in summary['models']}
    num_classes = len(summary['dataset']['classes'])
    for m in summary['models']:
        assert 0.0 <= m['top1'] <= 1.0 and 0.0 <= m['pair_top1'] <= 1.0
        # Our top-1 from the dumped scores agrees with MMAction2's AccMetric.
        assert m['top1'] == pytest.approx(m['runner_top1'])
        assert m['trainable_params'] > 0
        assert len(m['losses']) == len(m['loss_iters']) > 0
        assert np.isfinite(m['losses']).all()
        cm = np.asarray(m['confusion'])
        assert cm.shape == (num_classes, num_classes)
        assert cm.sum() == m['num_test_clips'] > 0
    # The test split holds both clips of every pair and the test views of a
    # clip and of its reversal hold the same frames, so frame averaging is
    # at chance within pairs exactly, trained or not.
    assert by_key['frameavg']['pair_top1'] == 0.5
    pair_names = [f'{a}/{b}' for a, b in main_job.mrd.PAIRS]
    for m in summary['models']:
        assert list(m['pair_top1_by_kind']) == pair_names
    assert set(by_key['frameavg']['pair_top1_by_kind'].values()) == {0.5}
    assert 'Top-1 within reversal pairs, per pair' in md
    # TD and SME add parameters to the side network; frame averaging has
    # only a projection and a classifier.
    assert (
        by_key['tdsclip']['trainable_params']
        > by_key['side4video']['trainable_params']
        > by_key['frameavg']['trainable_params']
    )

    png = out_dir / 'main_job.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image as mpimg

    h, w = mpimg.imread(str(png)).shape[:2]
    assert h > 200 and w > 400
