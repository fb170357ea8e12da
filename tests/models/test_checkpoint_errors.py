"""Empty, truncated, misnamed and malicious checkpoint files get one line
each, naming the file, what is wrong and what to do (never to turn
``weights_only`` off), on every route: the library reader, MMEngine's
loaders (what tools/test.py, ``load_from`` and ``--resume`` use) and
tools/convert_weights.py."""

import importlib.util
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint
from safetensors.torch import save_file

import mmaction_tdsclip  # noqa: F401  (MMEngine reads through the plugin's reader)
from mmaction_tdsclip.weights import CheckpointFormatError, UnsafeCheckpointError, read_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'convert_weights.py'
# What a file that would run code when unpickled is refused with, however it is stored.
MALICIOUS_MESSAGE = ['Refusing to load', 'posix.system', 'could run code', 'Do not load this file']


class RunsCode:
    """Unpickling this would call ``os.system``."""

    def __reduce__(self):
        return os.system, ('echo payload ran',)


def _state():
    return {'conv1.weight': torch.randn(8, 3, 4, 4), 'fc.bias': torch.randn(8)}


def make_files(root: Path):
    """Each bad file, with the phrases its message must hold."""
    files = {}
    empty = root / 'empty.pth'
    empty.write_bytes(b'')
    files['empty'] = (empty, CheckpointFormatError, ['empty (0 bytes)', 'download it again'])

    whole = root / 'whole.pth'
    torch.save({'state_dict': _state()}, whole)
    data = whole.read_bytes()
    (root / 'truncated.pth').write_bytes(data[: len(data) // 2])
    files['truncated_zip'] = (
        root / 'truncated.pth',
        CheckpointFormatError,
        ['truncated or damaged', 'download it again'],
    )
    legacy = root / 'legacy.pth'
    torch.save({'state_dict': _state()}, legacy, _use_new_zipfile_serialization=False)
    data = legacy.read_bytes()
    (root / 'truncated_legacy.pth').write_bytes(data[: len(data) // 2])
    files['truncated_legacy'] = (
        root / 'truncated_legacy.pth',
        CheckpointFormatError,
        ['truncated or damaged', 'download it again'],
    )
    save_file(_state(), str(root / 'whole.safetensors'))
    data = (root / 'whole.safetensors').read_bytes()
    (root / 'truncated.safetensors').write_bytes(data[:-40])
    files['truncated_safetensors'] = (
        root / 'truncated.safetensors',
        CheckpointFormatError,
        ['not a complete safetensors file', 'truncated or damaged', 'download it again'],
    )
    misnamed = root / 'misnamed.safetensors'
    misnamed.write_bytes(whole.read_bytes())
    files['misnamed'] = (
        misnamed,
        CheckpointFormatError,
        ['named .safetensors but holds a PyTorch zip checkpoint', 'rename it to end in .pth'],
    )
    plain = root / 'plain_pickle.pth'
    with open(plain, 'wb') as f:
        pickle.dump({'state_dict': _state(), 'hook': RunsCode()}, f)
    files['malicious_plain_pickle'] = (
        plain,
        UnsafeCheckpointError,
        MALICIOUS_MESSAGE,
    )
    zipped = root / 'malicious.pth'
    torch.save({'state_dict': _state(), 'hook': RunsCode()}, zipped)
    files['malicious_zip'] = (
        zipped,
        UnsafeCheckpointError,
        MALICIOUS_MESSAGE,
    )
    script = root / 'damaged_torchscript.pt'
    torch.jit.save(torch.jit.script(torch.nn.Linear(64, 64)), str(script))
    data = bytearray(script.read_bytes())
    with zipfile.ZipFile(script) as archive:
        entry = next(i for i in archive.infolist() if '/data/' in i.filename)
    # A stored entry's bytes follow its 30-byte local header, name and extra field.
    start = entry.header_offset + 30 + len(entry.filename.encode()) + len(entry.extra)
    data[start + 10] ^= 0xFF
    script.write_bytes(bytes(data))
    files['damaged_torchscript'] = (
        script,
        CheckpointFormatError,
        ['truncated or damaged', 'download it again'],
    )
    return files


CASES = [
    'damaged_torchscript',
    'empty',
    'truncated_zip',
    'truncated_legacy',
    'truncated_safetensors',
    'misnamed',
    'malicious_plain_pickle',
    'malicious_zip',
]


@pytest.fixture(scope='module')
def bad_files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp('bad_checkpoints'))


@pytest.fixture(autouse=True)
def weights_only_protection_on(monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)


def check_message(message: str, path: Path, phrases):
    assert '\n' not in message.strip(), message
    assert str(path) in message
    for phrase in phrases:
        assert phrase in message, (phrase, message)
    assert 'weights_only=False' not in message and 'set to `False`' not in message


@pytest.mark.parametrize('case', CASES)
def test_library_reader(bad_files, case):
    path, error, phrases = bad_files[case]
    with pytest.raises(error) as info:
        read_checkpoint(path)
    check_message(str(info.value), path, phrases)


@pytest.mark.parametrize('case', CASES)
def test_mmengine_load_path(bad_files, case):
    """What tools/test.py, load_from and --resume call."""
    path, error, phrases = bad_files[case]
    with pytest.raises(error) as info:
        load_checkpoint(torch.nn.Linear(2, 2), str(path), map_location='cpu')
    check_message(str(info.value), path, phrases)


def test_unsafe_error_is_also_an_unpickling_error(bad_files):
    with pytest.raises(pickle.UnpicklingError, match='posix.system'):
        read_checkpoint(bad_files['malicious_plain_pickle'][0])


def load_tool():
    spec = importlib.util.spec_from_file_location('convert_weights_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('case', CASES)
def test_convert_weights_tool(bad_files, tmp_path, case):
    path, _, phrases = bad_files[case]
    with pytest.raises(SystemExit) as exit_:
        load_tool().main([str(path), str(tmp_path / 'out.pth')])
    message = str(exit_.value.code)
    assert message.startswith('convert_weights: error: ')
    check_message(message, path, phrases)
    assert not (tmp_path / 'out.pth').exists()


def test_convert_weights_prints_no_traceback_for_a_truncated_file(bad_files, tmp_path):
    path, _, phrases = bad_files['truncated_zip']
    result = subprocess.run(
        [sys.executable, str(TOOL), str(path), str(tmp_path / 'out.pth')],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(REPO_ROOT),
    )
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith('convert_weights:')]
    assert len(lines) == 1
    check_message(lines[0], path, phrases)
