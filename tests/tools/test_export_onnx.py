"""tools/deployment/export_onnx.py: onnxruntime's logits equal PyTorch's."""

import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmaction_tdsclip.apis import init_tdsclip_recognizer
from mmaction_tdsclip.weights import CheckpointMismatchError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'tests' / 'tiny_configs' / 'tiny_tdsclip_video.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'export_onnx_tool', REPO / 'tools' / 'deployment' / 'export_onnx.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A tiny TDS-CLIP's full state dict, its head scaled up so that the
    logits span a few units (random heads give logits near 0)."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(CONFIG)).model)
    with torch.no_grad():
        model.cls_head.fc_cls.weight.mul_(20)
    path = tmp_path_factory.mktemp('onnx') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), path)
    return path


def test_onnxruntime_logits_equal_pytorch(tool, checkpoint, capsys):
    import onnx

    out = checkpoint.parent / 'tiny.onnx'
    tool.main([str(CONFIG), str(checkpoint), '--out', str(out)])
    assert 'clips (views, 3, 6, 32, 32) -> logits (views, classes)' in capsys.readouterr().out
    onnx.checker.check_model(str(out))
    model = init_tdsclip_recognizer(str(CONFIG), str(checkpoint))
    # 5 views: the file was traced with 2, the number of views is dynamic.
    torch.manual_seed(1)
    clips = torch.randn(5, 3, 6, 32, 32)
    result = tool.compare_with_onnxruntime(model, str(out), clips)
    assert result['max_abs_logit'] > 1  # a comparison of non-trivial logits
    assert result['max_abs_diff'] < 1e-4
    # The graph is the recognizer's own 'tensor' mode: the same logits as
    # the head gives in test mode, view by view.
    with torch.no_grad():
        logits = model.extract_feat(clips.unsqueeze(0), stage='head', test_mode=True)[0]
        assert torch.allclose(tool.ClipsToLogits(model)(clips), logits, atol=1e-6)


def test_checkpoint_of_another_model_is_refused(tool, checkpoint, tmp_path):
    with pytest.raises(CheckpointMismatchError, match=r'tiny\.pth.*neck\.'):
        tool.main(
            [
                str(CONFIG),
                str(checkpoint),
                '--out',
                str(tmp_path / 'x.onnx'),
                '--cfg-options',
                'model.neck.side_dim=128',
                'model.cls_head.in_channels=128',
            ]
        )
    assert not (tmp_path / 'x.onnx').exists()
