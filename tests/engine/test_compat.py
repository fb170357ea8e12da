"""Each shim in mmaction_tdsclip.compat: the breakage it fixes shows in a
fresh interpreter without the shim, goes away with it, and the shim changes
nothing where the breakage is absent."""

import json
import logging
import os
import pickle
import pickletools
import subprocess
import sys
import textwrap
import zipfile
from typing import Dict, List

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

import mmaction_tdsclip  # noqa: F401  (applies the shims in this process)
from mmaction_tdsclip import compat

CUDA = torch.cuda.is_available()


def run_python(code: str, env: Dict[str, str], timeout: int = 120):
    """Run ``code`` in a fresh interpreter of this venv."""
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dist_env(env: Dict[str, str], port: int) -> Dict[str, str]:
    """A one-process ``--launcher pytorch`` environment."""
    return dict(
        env,
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
    )


@pytest.fixture(scope='module')
def with_shims(subprocess_env, mmengine_checkpoint, free_port) -> Dict:
    """One fresh interpreter that imports mmaction_tdsclip, then does what
    each breakage prevents; returns what it saw."""
    code = f"""
        import json
        import mmaction_tdsclip
        report = {{}}

        import mmaction.models
        from mmaction.registry import MODELS
        report['recognizer3d'] = MODELS.get('Recognizer3D') is not None

        import torch, torch.distributed as dist
        from mmengine.dist import init_dist
        init_dist('pytorch', backend='nccl')
        value = torch.ones(2)
        dist.all_reduce(value)
        report['dist'] = [dist.get_backend(), dist.get_world_size(),
                          value.tolist()]
        dist.destroy_process_group()

        from mmengine.runner.checkpoint import _load_checkpoint
        ckpt = _load_checkpoint({str(mmengine_checkpoint.path)!r})
        loss = ckpt['message_hub']['log_scalars']['train/loss']
        report['loss_history'] = loss.data[0].tolist()
        report['loss_mean'] = float(loss.mean())
        print('REPORT', json.dumps(report))
    """
    result = run_python(code, dist_env(subprocess_env, free_port()), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith('REPORT')]
    return json.loads(line[-1][len('REPORT ') :])


# ---------------------------------------------------------------- DRN stub


WITHOUT_DRN_FINDER = (
    'import sys\n'
    "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'MissingDRNFinder']\n"
)


def test_drn_stub_fixes_model_import(subprocess_env, with_shims):
    import mmaction

    drn_dir = os.path.join(os.path.dirname(mmaction.__file__), 'models', 'localizers', 'drn')
    # Without the finder (which the installed .pth may have registered at start-up).
    without = run_python(WITHOUT_DRN_FINDER + 'import mmaction.models', subprocess_env)
    if os.path.isdir(drn_dir):
        # A wheel that ships the module needs no stub.
        assert without.returncode == 0, without.stderr[-2000:]
    else:
        assert without.returncode != 0
        assert 'drn' in without.stderr
    assert with_shims['recognizer3d']


def test_drn_stub_is_noop_when_module_exists(subprocess_env, tmp_path):
    """A wheel that ships the folder: its module is imported, not the stub."""
    drn = tmp_path / 'mmaction' / 'models' / 'localizers' / 'drn'
    drn.mkdir(parents=True)
    for package in (drn.parents[2], drn.parents[1], drn.parent, drn):
        (package / '__init__.py').touch()
    (drn / 'drn.py').write_text("DRN = 'upstream'\n")
    result = run_python(
        WITHOUT_DRN_FINDER
        + textwrap.dedent(f"""
            sys.path.insert(0, {str(tmp_path)!r})
            import mmaction_tdsclip_hook
            mmaction_tdsclip_hook.install_drn_finder()
            from mmaction.models.localizers.drn.drn import DRN
            print(DRN)
        """),
        subprocess_env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == 'upstream'
    assert compat.stub_missing_drn_localizer() is False  # already registered


# ------------------------------------------------- distributed without CUDA


def test_cpu_distributed_init(subprocess_env, with_shims, free_port):
    code = """
        from mmengine.dist import init_dist
        init_dist('pytorch', backend='gloo')
    """
    without = run_python(code, dist_env(subprocess_env, free_port()))
    if CUDA:
        assert without.returncode == 0, without.stderr[-2000:]
    else:
        # CPU build: torch._C has no _cuda_setDevice; CUDA build without a
        # GPU: set_device raises a RuntimeError.
        assert without.returncode != 0
        assert 'set_device' in without.stderr or '_cuda_setDevice' in without.stderr
        # With the shim, a config asking for nccl runs on gloo.
        assert with_shims['dist'] == ['gloo', 1, [1.0, 1.0]]


def test_cpu_distributed_shim_is_noop_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    from mmengine.dist import utils as dist_utils

    before = dist_utils._init_dist_pytorch
    assert compat.enable_cpu_distributed() is False
    assert dist_utils._init_dist_pytorch is before


@pytest.mark.parametrize('cuda', [True, False])
def test_cpu_distributed_wrapper(monkeypatch, cuda):
    seen: List = []
    real_set_device = torch.cuda.set_device

    def init_fn(backend, **kwargs):
        seen.append((backend, torch.cuda.set_device, kwargs))

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    compat._cpu_capable_dist_init(init_fn)('nccl', timeout=5)
    backend, set_device, kwargs = seen[0]
    assert kwargs == dict(timeout=5)
    if cuda:
        # Untouched where CUDA exists.
        assert backend == 'nccl' and set_device is real_set_device
    else:
        assert backend == 'gloo' and set_device is compat._skip_set_device
    assert torch.cuda.set_device is real_set_device


# ----------------------------------------------- weights_only checkpoints


def test_mmengine_checkpoint_needs_allow_list(subprocess_env, mmengine_checkpoint, with_shims):
    code = f"""
        from mmengine.runner.checkpoint import _load_checkpoint
        _load_checkpoint({str(mmengine_checkpoint.path)!r})
    """
    without = run_python(code, subprocess_env)
    assert without.returncode != 0
    assert 'Weights only load failed' in without.stderr
    assert 'HistoryBuffer' in without.stderr
    assert with_shims['loss_history'] == pytest.approx(mmengine_checkpoint.loss_history.tolist())
    assert with_shims['loss_mean'] == pytest.approx(mmengine_checkpoint.loss_history.mean())


def pickle_globals(path) -> set:
    """Every global a torch zip checkpoint's pickle refers to, read from
    its opcodes."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith('data.pkl'))
        data = archive.read(name)
    found = set()
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == 'GLOBAL':
            module, _, attr = arg.partition(' ')
            module = 'builtins' if module == '__builtin__' else module
            # numpy 1.x names numpy._core numpy.core.
            module = module.replace('numpy.core.', 'numpy._core.')
            found.add(f'{module}.{attr}')
    return found


def test_allow_list_covers_what_checkpoints_need(mmengine_checkpoint):
    weights_only = torch.serialization._weights_only_unpickler
    beyond_defaults = pickle_globals(mmengine_checkpoint.path) - set(
        weights_only._get_allowed_globals()
    )
    # What the message hub of an mmengine checkpoint adds to torch's defaults.
    assert beyond_defaults == {
        'mmengine.logging.history_buffer.HistoryBuffer',
        'builtins.getattr',
        'numpy.ndarray',
        'numpy.dtype',
        'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar',
    }
    allowed = weights_only._get_user_allowed_globals()
    assert beyond_defaults <= set(allowed)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(mmengine_checkpoint.path)) == []
    # The real builtins.getattr is not on the list: its stand-in is.
    assert allowed['builtins.getattr'] is compat._history_buffer_getattr
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


class _GetAttr:
    """Pickles as ``getattr(target, name)``."""

    def __init__(self, target, name):
        self.target, self.name = target, name

    def __reduce__(self):
        return getattr, (self.target, self.name)


def test_getattr_stand_in_allows_only_statistics_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'m': _GetAttr(HistoryBuffer, 'mean')}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded['m'] is HistoryBuffer.mean
    for target, name in (
        (HistoryBuffer, '__init__'),
        (HistoryBuffer, '__setstate__'),
        (torch.Tensor, 'mean'),
    ):
        torch.save({'m': _GetAttr(target, name)}, path)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)


def test_allow_list_shim_is_noop_when_already_allowed(monkeypatch):
    # HistoryBuffer is allow-listed already (here by the shim itself; by
    # mmengine once upstream registers it).
    before = set(map(str, torch.serialization.get_safe_globals()))
    assert compat.allow_mmengine_checkpoints() is False
    assert set(map(str, torch.serialization.get_safe_globals())) == before
    # A torch without an allow-list: nothing to do.
    monkeypatch.delattr(torch.serialization, 'add_safe_globals')
    assert compat.allow_mmengine_checkpoints() is False


# ------------------------------------------ frozen-parameter log flood


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _frozen_model(num_frozen_layers: int) -> nn.Module:
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(3)])
    for layer in model[:num_frozen_layers]:
        layer.requires_grad_(False)
    # The same parameter twice: the constructor warns about the duplicate.
    model.add_module('shared', nn.Module())
    model.shared.weight = model[2].weight
    return model


def _construct(model: nn.Module, call) -> List[str]:
    logger = MMLogger.get_instance(f'test_compat_{id(model)}')
    handler = _Collect()
    logger.addHandler(handler)
    try:
        constructor = DefaultOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4)),
            dict(norm_decay_mult=0.0, bypass_duplicate=True),
        )
        wrapper = call(constructor, model)
    finally:
        logger.removeHandler(handler)
    optimised = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert optimised == {id(p) for p in model.parameters() if p.requires_grad}
    return handler.messages


def test_frozen_parameter_warnings_collapse_to_one_line():
    shimmed = DefaultOptimWrapperConstructor.__call__
    original = shimmed.__wrapped__
    assert getattr(shimmed, compat._SHIM_MARK)

    flood = _construct(_frozen_model(2), original)
    skipped = [m for m in flood if 'is skipped since its requires_grad' in m]
    assert sorted(skipped) == [
        f'{n} is skipped since its requires_grad=False'
        for n in ('0.bias', '0.weight', '1.bias', '1.weight')
    ]

    messages = _construct(_frozen_model(2), shimmed)
    assert not [m for m in messages if 'is skipped since its' in m]
    assert (
        messages.count(
            '4 parameters with requires_grad=False are left out of the optimizer (0: 2, 1: 2)'
        )
        == 1
    )
    # Other warnings still come through, as they did without the shim.
    duplicate = [m for m in flood if 'is duplicate' in m]
    assert duplicate and [m for m in messages if 'is duplicate' in m] == duplicate


def test_frozen_parameter_summary_absent_without_frozen_parameters():
    messages = _construct(_frozen_model(0), DefaultOptimWrapperConstructor.__call__)
    assert not [m for m in messages if 'requires_grad=False' in m]


def test_frozen_parameter_shim_is_noop_when_upstream_is_quiet(monkeypatch):
    original = DefaultOptimWrapperConstructor.__call__.__wrapped__
    monkeypatch.setattr(DefaultOptimWrapperConstructor, '__call__', original)

    def quiet_add_params(self, params, module, prefix='', is_dcn_module=None):
        params.extend({'params': [p]} for p in module.parameters() if p.requires_grad)

    monkeypatch.setattr(DefaultOptimWrapperConstructor, 'add_params', quiet_add_params)
    assert compat.summarise_frozen_param_warnings() is False
    assert DefaultOptimWrapperConstructor.__call__ is original


def test_apply_all_is_idempotent():
    assert compat.apply_all() == {
        'stub_missing_drn_localizer': False,
        'quiet_upstream_logs': False,
        'enable_cpu_distributed': False,
        'allow_mmengine_checkpoints': False,
        'summarise_frozen_param_warnings': False,
    }


# ------------------------------------------------------ upstream log noise


def test_upstream_log_noise_is_filtered(capsys):
    from mmengine.fileio import FileClient
    from mmengine.fileio.file_client import HardDiskBackend

    logger = MMLogger.get_instance('quiet_upstream_logs_test', log_level='INFO')
    noise = ('"FileClient" will be deprecated', '"HardDiskBackend" is the alias')
    # A logger made after the plugin's import carries the filter ...
    FileClient('disk')
    HardDiskBackend()
    logger.warning('a warning of our own')
    out = capsys.readouterr().out
    assert 'a warning of our own' in out
    assert not any(text in out for text in noise)
    # ... and without it, mmengine does log both lines.
    filters = [f for f in logger.filters if isinstance(f, compat.QuietUpstreamLogFilter)]
    assert len(filters) == 1
    logger.removeFilter(filters[0])
    try:
        FileClient('disk')
        HardDiskBackend()
    finally:
        logger.addFilter(filters[0])
    out = capsys.readouterr().out
    assert all(text in out for text in noise)
