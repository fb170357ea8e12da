"""tools/extract_features.py on a tiny model of a shipped config and two generated videos."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from _video_fixtures import make_tiny, make_video_list
from mmaction.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

REPO_ROOT = Path(__file__).resolve().parents[2]
SSV2 = REPO_ROOT / 'configs' / 'tdsclip' / 'tdsclip_clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py'


def load_tool():
    path = REPO_ROOT / 'tools' / 'extract_features.py'
    spec = importlib.util.spec_from_file_location('tds_extract_features', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp('extract')
    video_list = make_video_list(str(root), [('a.mp4', 0), ('b.mp4', 1)], 30, 48, 64)
    cfg = make_tiny(Config.fromfile(str(SSV2)))
    config = root / 'tiny.py'
    cfg.dump(str(config))
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    checkpoint = root / 'tiny.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, str(checkpoint))
    return dict(root=root, list=video_list, config=config, checkpoint=checkpoint, model=model)


def run(assets, out, *extra):
    args = [str(assets['config']), str(assets['checkpoint']), str(out)]
    args += ['--video-list', assets['list'], '--video-root', str(assets['root'] / 'videos')]
    return load_tool().main(args + ['--device', 'cpu', *extra])


def test_each_stage_writes_per_video_features(assets, capsys):
    out = assets['root'] / 'feats'
    model = assets['model']
    T = model.neck.num_segments
    assert run(assets, out / 'backbone', '--stage', 'backbone') == 0
    assert run(assets, out / 'neck', '--stage', 'neck') == 0
    assert run(assets, out / 'pooled', '--stage', 'neck', '--pool', 'avg') == 0
    assert run(assets, out / 'head', '--stage', 'head') == 0
    assert '2 of 2 videos written' in capsys.readouterr().out
    for name in ('a.mp4', 'b.mp4'):
        tokens = np.load(out / 'backbone' / f'{name}.npz')
        assert sorted(tokens) == ['layer0', 'layer1']
        assert tokens['layer1'].shape == (6, T, 5, 64)  # 2 clips x 3 crops, T, N+1, W
        feats = np.load(out / 'neck' / f'{name}.npz')['features']
        assert feats.shape == (6, 64, T, 2, 2)
        pooled = np.load(out / 'pooled' / f'{name}.npz')['features']
        np.testing.assert_allclose(pooled, feats.reshape(6, 64, -1).mean(-1), atol=1e-6)
        # the logits are the head's linear map of the pooled side features
        fc = model.cls_head.fc_cls
        logits = np.load(out / 'head' / f'{name}.npz')['logits']
        expected = pooled @ fc.weight.detach().numpy().T + fc.bias.detach().numpy()
        np.testing.assert_allclose(logits, expected, atol=1e-5)

    # Independently of the tool: the test pipeline on a.mp4, the tower block by block on the
    # centre frames, then the neck on those tokens.
    tool = load_tool()
    cfg = Config.fromfile(str(assets['config']))
    dataset = DATASETS.build(
        tool.test_dataset_cfg(cfg, assets['list'], str(assets['root'] / 'videos'))
    )
    assert dataset.get_data_info(0)['filename'].endswith('a.mp4')
    n = model.neck.num_local_frames
    frames = model.data_preprocessor(pseudo_collate([dataset[0]]), False)['inputs'].flatten(0, 1)
    centre = frames[:, :, n // 2 :: n].transpose(1, 2).flatten(0, 1)
    with torch.no_grad():
        x = model.backbone.embed(centre)
        direct = []
        for block in model.backbone.transformer.resblocks:
            x = block(x)
            direct.append(x)
        side = model.neck(frames, direct)
    tokens = np.load(out / 'backbone' / 'a.mp4.npz')
    for i, ref in enumerate(direct):
        np.testing.assert_allclose(tokens[f'layer{i}'], ref.reshape(6, T, 5, 64).numpy(), atol=1e-5)
    feats = np.load(out / 'neck' / 'a.mp4.npz')['features']
    np.testing.assert_allclose(feats, side.numpy(), atol=1e-5)


def test_skip_existing_keeps_files_and_bad_videos_are_listed(assets, capsys):
    out = assets['root'] / 'resume'
    assert run(assets, out, '--stage', 'head') == 0
    kept = out / 'a.mp4.npz'
    kept.write_bytes(b'kept')
    broken = assets['root'] / 'videos' / 'c.mp4'
    broken.write_bytes(b'not a video')
    with open(assets['list'], 'a') as f:
        f.write('c.mp4 0\n')
    assert run(assets, out, '--stage', 'head', '--skip-existing') == 1
    assert kept.read_bytes() == b'kept'
    err = capsys.readouterr().err
    assert '1 could not be read' in err and 'c.mp4' in err
    assert not (out / 'c.mp4.npz').exists()
