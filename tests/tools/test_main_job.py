"""Smoke test of the main job (``tools/main_job.py --quick``) and unit tests
of its metrics."""

import json
import os
import os.path as osp
import re
import sys

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

import main_job  # noqa: E402

#: Known results of ``--quick`` (deterministic run to run). Refresh after a deliberate change of
#: the models, the demo configs or the dataset generator with
#: ``UPDATE_MAIN_JOB_BASELINE=1 pytest tests/tools/test_main_job.py -k quick``.
QUICK_BASELINE = osp.join(osp.dirname(osp.abspath(__file__)), 'main_job_quick_baseline.json')
#: The committed results of the run the README documents, and that command.
DOCUMENTED_RESULTS = main_job.PUBLISHED_RESULTS
DOCUMENTED_COMMANDS = ('python tools/main_job.py', 'python tools/main_job.py --seeds 0,1,2')


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
    assert [e['model'] for e in summary['summary']] == names
    assert [m['model'] for m in summary['models']] == names
    md = (out_dir / 'results.md').read_text()
    for name in names:
        assert f'| {name} |' in md
        assert f'| {name} |' in printed
    assert 'top-1 within reversal pairs' in printed

    by_key = {m['key']: m for m in summary['models']}
    num_classes = len(summary['dataset']['classes'])
    known = {
        m['key']: dict(top1=m['top1'], pair_top1=m['pair_top1'], losses=m['losses'])
        for m in summary['models']
    }
    if os.environ.get('UPDATE_MAIN_JOB_BASELINE'):
        with open(QUICK_BASELINE, 'w') as f:
            json.dump(known, f, indent=1)
    with open(QUICK_BASELINE) as f:
        baseline = json.load(f)
    refresh = f'changed on purpose? refresh {QUICK_BASELINE} (see its comment in this file)'
    assert baseline.keys() == known.keys()
    for key, want in baseline.items():
        got = known[key]
        # Losses within float noise of another CPU; accuracies within one test clip.
        np.testing.assert_allclose(got['losses'], want['losses'], rtol=1e-3, err_msg=refresh)
        clip = 1 / by_key[key]['num_test_clips']
        assert abs(got['top1'] - want['top1']) <= clip + 1e-9, refresh
        assert abs(got['pair_top1'] - want['pair_top1']) <= clip + 1e-9, refresh
    for m in summary['models']:
        assert m['seed'] == 0
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

    # The printed table reads back as the summary.
    parsed = main_job.parse_table(printed)
    for e in summary['summary']:
        assert parsed[e['model']]['top1'] == pytest.approx(e['top1_mean'], abs=5e-4)
        assert parsed[e['model']]['pair_top1_std'] == 0.0

    png = out_dir / 'main_job.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    import matplotlib.image as mpimg

    h, w = mpimg.imread(str(png)).shape[:2]
    assert h > 200 and w > 400


def test_seed_spread():
    rows = [
        dict(
            key='a',
            model='A',
            seed=s,
            top1=t,
            pair_top1=p,
            train_time_s=10.0 + s,
            trainable_params=1500,
        )
        for s, t, p in [(0, 0.5, 0.6), (1, 0.7, 0.8), (2, 0.6, 0.7)]
    ]
    (entry,) = main_job.summarize(rows)
    assert entry['seeds'] == [0, 1, 2]
    assert entry['top1_mean'] == pytest.approx(0.6)
    assert entry['top1_std'] == pytest.approx(0.1)  # sample standard deviation
    table = main_job.format_table([entry])
    assert '| A | 60.0 ± 10.0 % | 70.0 ± 10.0 % | 1.5 K | 11 s |' in table
    assert main_job.parse_table(table)['A'] == pytest.approx(
        dict(
            top1=0.6,
            top1_std=0.1,
            pair_top1=0.7,
            pair_top1_std=0.1,
            trainable_params=1500,
            train_time_s=11,
        )
    )


def test_publish_writes_the_readme_block(tmp_path, monkeypatch):
    results = dict(
        command='python tools/main_job.py',
        date='2026-01-02',
        machine=dict(cpus=2, processor='Some CPU'),
        total_time_s=1500.0,
        summary=main_job.summarize(
            [
                dict(
                    key='a',
                    model='A',
                    seed=s,
                    top1=0.5 + s / 10,
                    pair_top1=0.75,
                    train_time_s=100.0,
                    trainable_params=2000,
                )
                for s in range(3)
            ]
        ),
    )
    src = tmp_path / 'results.json'
    src.write_text(json.dumps(results))
    readme = tmp_path / 'README.md'
    readme.write_text('intro\n<!-- main-job-results -->\nold\n<!-- /main-job-results -->\nrest\n')
    monkeypatch.setattr(main_job, 'PUBLISHED_RESULTS', str(tmp_path / 'docs' / 'main_job.json'))
    main_job.publish(str(src), str(readme))
    text = readme.read_text()
    assert 'old' not in text and text.startswith('intro\n') and text.endswith('rest\n')
    assert '`python tools/main_job.py` on 2 CPU cores (Some CPU), 2026-01-02, 25 min' in text
    assert '| A | 60.0 ± 10.0 % | 75.0 ± 0.0 % | 2.0 K | 100 s |' in text
    assert json.loads((tmp_path / 'docs' / 'main_job.json').read_text()) == results


def readme_main_job_block():
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        text = f.read()
    found = re.search(r'<!-- main-job-results -->(.*?)<!-- /main-job-results -->', text, re.S)
    assert found, 'README.md lost its <!-- main-job-results --> block'
    return found.group(1)


def test_readme_table_is_the_committed_documented_run():
    """The README's main-job table, command, machine and date are those of the committed
    results of the documented run, made with the current schedule."""
    with open(DOCUMENTED_RESULTS) as f:
        results = json.load(f)
    assert results['command'] in DOCUMENTED_COMMANDS
    assert results['epochs'] == main_job.FULL['epochs']
    assert results['dataset']['num_videos'] == main_job.FULL['num_videos']
    assert results['seeds'] == [0, 1, 2]
    assert [e['model'] for e in results['summary']] == [m[1] for m in main_job.MODELS]
    block = readme_main_job_block()
    assert main_job.readme_table(results).split('\n\n')[0] in block
    table = main_job.parse_table(block)
    assert list(table) == [e['model'] for e in results['summary']]
    for e in results['summary']:
        row = table[e['model']]
        for metric in ('top1', 'pair_top1'):
            assert row[metric] == pytest.approx(e[f'{metric}_mean'], abs=5e-4), (e['model'], metric)
            assert row[f'{metric}_std'] == pytest.approx(e[f'{metric}_std'], abs=5e-4)
        assert row['trainable_params'] == pytest.approx(e['trainable_params'], abs=50)
        assert row['train_time_s'] == pytest.approx(e['train_time_s_mean'], abs=0.5)
