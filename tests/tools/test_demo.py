"""tools/demo.py on a tiny model saved to a checkpoint, against MMAction2's
own init_recognizer + inference_recognizer."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _video_fixtures import make_tiny
from mmaction.apis import inference_recognizer, init_recognizer
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmaction_tdsclip.datasets.synthetic import write_frame_folder, write_video

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
    pipeline = demo.test_pipeline_for(Config.fromfile(str(config)), assets['frames'])
    types = [t['type'] for t in pipeline]
    assert types[:2] == ['SampleTDSFrames', 'TDSRawFrameDecode']
    demo.main([assets['frames'], str(config), str(checkpoint), '--topk', '3', '--device', 'cpu'])
    assert len(parse(capsys.readouterr().out)) == 3


def test_checkpoint_without_clip_uses_config_weights(assets, tmp_path):
    """A checkpoint of the side network only: the frozen tower comes from
    model.backbone.pretrained (a CLIP-layout file)."""
    demo = load_demo()
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
    ranked = demo.predict(assets['video'], str(with_clip), str(side_only))
    full = demo.predict(assets['video'], str(config), str(assets['ssv2'][1]))
    assert [n for n, _ in ranked] == [n for n, _ in full]
    assert ranked[0][1] == pytest.approx(full[0][1], abs=1e-5)


def test_mismatched_checkpoint_is_refused(assets, tmp_path):
    demo = load_demo()
    config, _, model = assets['ssv2']
    state = model.state_dict()
    state['cls_head.fc_cls.weight'] = state['cls_head.fc_cls.weight'][:10]
    state.pop('cls_head.fc_cls.bias')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, str(bad))
    with pytest.raises((RuntimeError, ValueError)):
        demo.predict(assets['video'], str(config), str(bad))


def test_checkpoint_with_code_is_refused(assets, tmp_path):
    demo = load_demo()
    config, _, _ = assets['ssv2']
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'hook': subprocess.Popen}, str(evil))
    with pytest.raises(Exception, match='weights_only'):
        demo.predict(assets['video'], str(config), str(evil))
