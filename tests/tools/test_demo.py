"""tools/demo.py and mmaction_tdsclip.apis on a tiny model saved to a
checkpoint, against MMAction2's own init_recognizer + inference_recognizer."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _video_fixtures import make_tiny
from mmaction.apis import inference_recognizer, init_recognizer
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmaction_tdsclip.apis import (
    adapted_test_pipeline,
    detect_filename_tmpl,
    draw_labels,
    init_tdsclip_recognizer,
    predict_topk,
)
from mmaction_tdsclip.datasets.synthetic import write_frame_folder, write_video
from mmaction_tdsclip.weights import CheckpointMismatchError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs' / 'tdsclip'
SSV2 = CONFIG_DIR / 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'
SSV1 = CONFIG_DIR / 'tdsclip_clip-vit-b16_8xb16-u8x5-40e_sthv1-rgb.py'


def load_demo():
    spec = importlib.util.spec_from_file_location('tds_demo', REPO_ROOT / 'tools' / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_setup(root: Path, shipped: Path, name: str):
    """A tiny config file derived from a shipped one, and a checkpoint of a
    randomly initialised model of it (whole state dict, CLIP included)."""
    cfg = make_tiny(Config.fromfile(str(shipped)))
    config = root / f'{name}.py'
    cfg.dump(str(config))
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # Spread the class scores so the top-5 is well separated.
    with torch.no_grad():
        model.cls_head.fc_cls.weight.mul_(50)
    checkpoint = root / f'{name}.pth'
    torch.save({'meta': {'epoch': 1}, 'state_dict': model.state_dict()}, str(checkpoint))
    return config, checkpoint, model


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    video = write_video(str(root / 'clip.mp4'), 30, 48, 64)
    frames = write_frame_folder(str(root / 'frames'), 25, 48, 64)
    labels = root / 'labels.txt'
    labels.write_text(''.join(f'action number {i}\n' for i in range(174)))
    ssv2 = tiny_setup(root, SSV2, 'tiny_sthv2')
    ssv1 = tiny_setup(root, SSV1, 'tiny_sthv1')
    return dict(root=root, video=video, frames=frames, labels=labels, ssv2=ssv2, ssv1=ssv1)


def parse(output):
    rows = [line for line in output.splitlines() if line[:3].strip().rstrip('.').isdigit()]
    return [(line.split(None, 2)[2], float(line.split()[1])) for line in rows]


def expected_top5(config, checkpoint, video, names):
    """MMAction2's stock inference path on the same files."""
    model = init_recognizer(str(config), str(checkpoint), device='cpu')
    scores = inference_recognizer(model, video).pred_score
    top = torch.topk(scores, 5)
    return [(names[i], s) for s, i in zip(top.values.tolist(), top.indices.tolist())]


def test_demo_cli_prints_top5(assets):
    config, checkpoint, _ = assets['ssv2']
    out = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / 'tools' / 'demo.py'),
            assets['video'],
            str(config),
            str(checkpoint),
            '--label-map',
            str(assets['labels']),
            '--device',
            'cpu',
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(REPO_ROOT),
        timeout=300,
    ).stdout
    got = parse(out)
    names = assets['labels'].read_text().splitlines()
    want = expected_top5(config, checkpoint, assets['video'], names)
    assert [n for n, _ in got] == [n for n, _ in want]
    for (_, g), (_, w) in zip(got, want):
        assert g == pytest.approx(w, abs=1e-4)
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


def test_demo_frame_folder_and_file_with_rawframe_config(assets, capsys):
    demo = load_demo()
    config, checkpoint, _ = assets['ssv1']
    for source in (assets['frames'], assets['video']):
        demo.main([source, str(config), str(checkpoint), '--device', 'cpu'])
        got = parse(capsys.readouterr().out)
        assert len(got) == 5
        assert all(name.startswith('class ') for name, _ in got)
        assert 0 < sum(s for _, s in got) <= 1.0 + 1e-6


def test_demo_frame_folder_with_video_config(assets, capsys):
    demo = load_demo()
    config, checkpoint, _ = assets['ssv2']
    pipeline = adapted_test_pipeline(Config.fromfile(str(config)), assets['frames'])
    types = [t['type'] for t in pipeline]
    assert types[:2] == ['SampleTDSFrames', 'TDSRawFrameDecode']
    demo.main([assets['frames'], str(config), str(checkpoint), '--topk', '3', '--device', 'cpu'])
    assert len(parse(capsys.readouterr().out)) == 3


def test_checkpoint_without_clip_uses_config_weights(assets, tmp_path):
    """A checkpoint of the side network only: the frozen tower comes from
    model.backbone.pretrained (a CLIP-layout file)."""
    config, _, model = assets['ssv2']
    clip_file = tmp_path / 'clip.pth'
    torch.save({f'visual.{k}': v for k, v in model.backbone.state_dict().items()}, str(clip_file))
    side_only = tmp_path / 'side.pth'
    torch.save(
        {
            'state_dict': {
                k: v for k, v in model.state_dict().items() if not k.startswith('backbone.')
            }
        },
        str(side_only),
    )
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.pretrained = str(clip_file)
    with_clip = tmp_path / 'with_clip.py'
    cfg.dump(str(with_clip))
    ranked = predict_topk(init_tdsclip_recognizer(str(with_clip), str(side_only)), assets['video'])
    full = predict_topk(
        init_tdsclip_recognizer(str(config), str(assets['ssv2'][1])), assets['video']
    )
    assert [n for n, _ in ranked] == [n for n, _ in full]
    assert ranked[0][1] == pytest.approx(full[0][1], abs=1e-5)


def test_mismatched_checkpoint_is_refused(assets, tmp_path, capsys):
    demo = load_demo()
    config, _, model = assets['ssv2']
    state = model.state_dict()
    state['cls_head.fc_cls.weight'] = state['cls_head.fc_cls.weight'][:10]
    state.pop('cls_head.fc_cls.bias')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, str(bad))
    with pytest.raises(CheckpointMismatchError) as info:
        init_tdsclip_recognizer(str(config), str(bad))
    message = str(info.value)
    assert str(bad) in message
    assert 'cls_head.fc_cls.weight: checkpoint (10, 64), model (174, 64)' in message
    assert 'cls_head.fc_cls.bias: missing from the checkpoint (model (174,))' in message
    with pytest.raises(SystemExit) as exit_:
        demo.main([assets['video'], str(config), str(bad)])
    assert 'cls_head.fc_cls.weight' in str(exit_.value.code)
    assert 'Top-' not in capsys.readouterr().out


def test_checkpoint_with_code_is_refused(assets, tmp_path):
    config, _, _ = assets['ssv2']
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'hook': subprocess.Popen}, str(evil))
    with pytest.raises(Exception, match='subprocess.Popen') as info:
        init_tdsclip_recognizer(str(config), str(evil))
    assert 'weights_only=False' not in str(info.value)


def test_cfg_options_reach_the_model(assets, capsys):
    """--cfg-options changes the config before the model is built: another
    head width no longer fits the checkpoint, and the load says so."""
    demo = load_demo()
    config, checkpoint, _ = assets['ssv2']
    with pytest.raises(SystemExit) as exit_:
        demo.main(
            [assets['video'], str(config), str(checkpoint)]
            + ['--cfg-options', 'model.cls_head.num_classes=10']
        )
    assert 'cls_head.fc_cls.weight: checkpoint (174, 64), model (10, 64)' in str(exit_.value.code)
    model = init_tdsclip_recognizer(
        str(config), str(checkpoint), cfg_options={'model.test_cfg.max_testing_views': 1}
    )
    assert model.cfg.model.test_cfg.max_testing_views == 1


@pytest.mark.parametrize(
    'device',
    [
        'cpu',
        pytest.param(
            'cuda:0', marks=pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU')
        ),
    ],
)
def test_device_is_used(assets, device):
    config, checkpoint, _ = assets['ssv2']
    model = init_tdsclip_recognizer(str(config), str(checkpoint), device=device)
    assert {p.device for p in model.parameters()} == {torch.device(device)}
    cpu = predict_topk(init_tdsclip_recognizer(str(config), str(checkpoint)), assets['video'])
    ranked = predict_topk(model, assets['video'])
    assert [n for n, _ in ranked] == [n for n, _ in cpu]
    assert [s for _, s in ranked] == pytest.approx([s for _, s in cpu], abs=1e-4)


@pytest.mark.parametrize(
    'tmpl,start,expected',
    [
        ('img_{:05}.jpg', 1, ('img_{:05d}.jpg', 1)),
        ('{:05}.jpg', 1, ('{:05d}.jpg', 1)),
        ('frame_{}.jpg', 0, ('frame_{}.jpg', 0)),
        ('{:06}.jpg', 0, ('{:06d}.jpg', 0)),
    ],
)
def test_frame_folders_with_any_filename_template(assets, tmp_path, tmpl, start, expected):
    """The same frames under another naming give the same scores as the
    config's own layout: the numbering is detected, or given explicitly."""
    config, checkpoint, _ = assets['ssv1']
    folder = write_frame_folder(
        str(tmp_path / 'f'), 25, 48, 64, filename_tmpl=tmpl, start_index=start
    )
    (tmp_path / 'f' / 'notes.txt').write_text('not a frame')
    assert detect_filename_tmpl(folder) == expected
    model = init_tdsclip_recognizer(str(config), str(checkpoint))
    want = predict_topk(model, assets['frames'])
    for explicit in (None, expected[0]):
        got = predict_topk(model, folder, filename_tmpl=explicit)
        assert [n for n, _ in got] == [n for n, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


def test_filename_template_detection_ignores_other_files(tmp_path):
    for name in ['frame_0.png', 'frame_1.png', 'frame_10.png', 'flow_x_00001.jpg', 'list.txt']:
        (tmp_path / name).write_bytes(b'')
    assert detect_filename_tmpl(str(tmp_path)) == ('frame_{}.png', 0)
    for index in range(7, 11):  # now the most common numbering
        (tmp_path / f'odd{{1}}_{index:05}.jpg').write_bytes(b'')
    tmpl, start = detect_filename_tmpl(str(tmp_path))
    assert (tmpl.format(start), start) == ('odd{1}_00007.jpg', 7)


def test_folder_without_numbered_frames_is_named(assets, tmp_path):
    config, checkpoint, _ = assets['ssv1']
    (tmp_path / 'empty').mkdir()
    model = init_tdsclip_recognizer(str(config), str(checkpoint))
    with pytest.raises(FileNotFoundError, match='--filename-tmpl'):
        predict_topk(model, str(tmp_path / 'empty'))


def read_frames(path):
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format='bgr24') for f in container.decode(video=0)]


@pytest.mark.parametrize('source', ['video', 'frames'])
def test_out_filename_writes_the_video_with_the_topk_drawn(assets, tmp_path, capsys, source):
    demo = load_demo()
    config, checkpoint, _ = assets['ssv2']
    out = tmp_path / 'labelled.mp4'
    demo.main(
        [assets[source], str(config), str(checkpoint), '--topk', '3']
        + ['--label-map', str(assets['labels']), '--out-filename', str(out)]
    )
    ranked = parse(capsys.readouterr().out)
    assert len(ranked) == 3
    if source == 'video':
        inputs = read_frames(assets['video'])
    else:
        inputs = [cv2.imread(str(Path(assets['frames']) / f'{i:05}.jpg')) for i in range(1, 26)]
    written = read_frames(out)
    assert len(written) == len(inputs) and written[0].shape == inputs[0].shape
    # The written frames are the input with these labels drawn (up to the
    # codec's loss), not with another ranking.
    other = [(f'action number {i}', s) for i, (_, s) in enumerate(ranked, 100)]
    for frame, original in zip(written[::7], inputs[::7]):
        right = np.abs(frame.astype(float) - draw_labels(original, ranked)).mean()
        wrong = np.abs(frame.astype(float) - draw_labels(original, other)).mean()
        untouched = np.abs(frame.astype(float) - original).mean()
        assert right < 0.5 * wrong and right < 0.5 * untouched


def test_out_filename_needs_a_video_extension(assets, tmp_path):
    demo = load_demo()
    config, checkpoint, _ = assets['ssv2']
    with pytest.raises(ValueError, match='.mp4 or .avi'):
        demo.main(
            [
                assets['video'],
                str(config),
                str(checkpoint),
                '--out-filename',
                str(tmp_path / 'x.gif'),
            ]
        )


def test_documented_inferencer_route_matches_the_demo(assets):
    """docs/weights.md's ActionRecogInferencer snippet, on a plugin config."""
    from mmaction.apis.inferencers import ActionRecogInferencer

    config, checkpoint, _ = assets['ssv2']
    inferencer = ActionRecogInferencer(model=str(config), weights=str(checkpoint), device='cpu')
    result = inferencer(assets['video'], return_datasamples=False)
    scores = torch.tensor(result['predictions'][0]['pred_scores'])
    ranked = predict_topk(init_tdsclip_recognizer(str(config), str(checkpoint)), assets['video'])
    top = torch.topk(scores, 5)
    assert [f'class {i}' for i in top.indices.tolist()] == [n for n, _ in ranked]
    assert top.values.tolist() == pytest.approx([s for _, s in ranked], abs=1e-5)
