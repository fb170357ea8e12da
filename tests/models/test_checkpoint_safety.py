"""Checkpoints are loaded without running code stored in them: a malicious
pickle is refused by our loader, by mmengine's ``load_checkpoint`` and by
``Runner.resume``, while real mmengine checkpoints load with
``weights_only=True``."""

import pickle
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from safetensors.torch import save_file

import mmaction_tdsclip  # noqa: F401  (allow-lists mmengine checkpoint types)
from mmaction_tdsclip.weights import UnsafeCheckpointError, read_checkpoint


class CreatesMarker:
    """Unpickling this creates ``marker``: stands for any code a pickle can
    run (``__reduce__`` may name any callable)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, 'w')


@pytest.fixture(autouse=True)
def weights_only_protection_on(monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)


@pytest.fixture(params=['zip_format', 'legacy_format'])
def malicious_checkpoint(request, tmp_path, mmengine_checkpoint):
    """A checkpoint that looks like a normal one but carries a payload;
    returns (path, marker the payload would create)."""
    marker = tmp_path / 'payload_ran'
    content = dict(
        meta=dict(epoch=1), state_dict=mmengine_checkpoint.state_dict, payload=CreatesMarker(marker)
    )
    path = tmp_path / 'malicious.pth'
    torch.save(content, path, _use_new_zipfile_serialization=request.param == 'zip_format')
    return path, marker


def test_payload_runs_when_loaded_unsafely(malicious_checkpoint):
    """The control: this file does run code when unpickled normally, so the
    refusals below are real."""
    path, marker = malicious_checkpoint
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_our_loader_refuses_malicious_pickle(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert 'weights_only=True' in message
    assert 'open' in message
    assert isinstance(info.value, pickle.UnpicklingError)
    assert not marker.exists()


def test_mmengine_load_checkpoint_refuses_malicious_pickle(
    malicious_checkpoint, tmp_path, build_toy_runner
):
    path, marker = malicious_checkpoint
    runner = build_toy_runner(tmp_path / 'work', 1, 'safety_load')
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(runner.model, str(path), map_location='cpu')
    assert not marker.exists()


def test_runner_resume_refuses_malicious_pickle(malicious_checkpoint, tmp_path, build_toy_runner):
    path, marker = malicious_checkpoint
    runner = build_toy_runner(tmp_path / 'work', 1, 'safety_resume')
    with pytest.raises(pickle.UnpicklingError):
        runner.resume(str(path))
    assert not marker.exists()


def test_real_checkpoint_loads_with_weights_only(mmengine_checkpoint):
    ckpt = read_checkpoint(mmengine_checkpoint.path)
    assert set(ckpt) >= {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'}
    for key, value in mmengine_checkpoint.state_dict.items():
        assert torch.equal(ckpt['state_dict'][key], value), key
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    history, counts = loss.data
    assert history.tolist() == pytest.approx(mmengine_checkpoint.loss_history.tolist())
    assert loss.mean() == pytest.approx(mmengine_checkpoint.loss_history.mean())
    assert ckpt['meta']['epoch'] == mmengine_checkpoint.epoch


def test_mmengine_paths_load_real_checkpoint(mmengine_checkpoint, tmp_path, build_toy_runner):
    runner = build_toy_runner(tmp_path / 'work', 3, 'safety_real')
    with torch.no_grad():
        for param in runner.model.parameters():
            param.zero_()
    load_checkpoint(runner.model, str(mmengine_checkpoint.path))
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, mmengine_checkpoint.state_dict[key]), key

    runner.resume(str(mmengine_checkpoint.path))
    assert runner.epoch == mmengine_checkpoint.epoch
    assert runner.iter == mmengine_checkpoint.iter
    resumed_loss = runner.message_hub.get_scalar('train/loss')
    assert resumed_loss.data[0].tolist() == pytest.approx(mmengine_checkpoint.loss_history.tolist())


def test_safetensors_files_load(tmp_path, mmengine_checkpoint):
    tensors = {k: v.contiguous() for k, v in mmengine_checkpoint.state_dict.items()}
    named = tmp_path / 'weights.safetensors'
    save_file(tensors, str(named))
    # Recognised by its header too, whatever the file is called.
    unnamed = tmp_path / 'weights.bin'
    unnamed.write_bytes(named.read_bytes())
    for path in (named, unnamed):
        loaded = read_checkpoint(path)
        assert set(loaded) == set(tensors)
        for key, value in tensors.items():
            assert torch.equal(loaded[key], value)
