"""Compatibility shims for the pinned OpenMMLab stack on modern torch / numpy.

:func:`apply_all` runs every shim; ``import mmaction_tdsclip`` calls it.
Each shim checks whether its breakage is still present, changes nothing when
it is not (upstream fixed it, or the machine does not have the problem), and
returns whether it changed anything. Applying a shim twice is harmless.
Nothing inside site-packages is edited.
"""

import functools
import inspect
import logging
import pickle
import re
from collections import Counter
from typing import Any, Callable, Dict, List

import mmaction_tdsclip_hook

_SHIM_MARK = '_mmaction_tdsclip_shim'


def stub_missing_drn_localizer() -> bool:
    """mmaction2 1.2.0 wheels lack ``mmaction/models/localizers/drn`` while
    ``localizers/__init__.py`` imports it (open-mmlab/mmaction2#2714), so
    every model build fails at ``import mmaction.models``.

    Registers :class:`mmaction_tdsclip_hook.MissingDRNFinder`, which stubs
    the module only where no installed file provides it. The ``.pth`` file
    installed with the package registers it at interpreter start already,
    so MMAction2's own tools work without importing the plugin; this call
    covers a run from a source checkout.

    Returns True when the finder was added.
    """
    return mmaction_tdsclip_hook.install_drn_finder()


# --------------------------------------------------------------------------
# Upstream log lines a user cannot act on
# --------------------------------------------------------------------------

# mmengine logs these (not warnings.warn) whenever MMAction2's decoders build
# a FileClient; the calls are in mmaction2, not in user code or configs.
QUIET_LOG_MESSAGES = re.compile(
    r'^"(FileClient" will be deprecated in future|HardDiskBackend" is the alias of '
    r'"LocalBackend" and the former will be deprecated in future)'
)


class QuietUpstreamLogFilter(logging.Filter):
    """Drops the mmengine log records of :data:`QUIET_LOG_MESSAGES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return QUIET_LOG_MESSAGES.match(record.getMessage()) is None


def quiet_upstream_logs() -> bool:
    """Filter :data:`QUIET_LOG_MESSAGES` out of every ``MMLogger``, those
    that exist now and those created later (each Runner makes its own).

    Returns True when the filter was installed.
    """
    from mmengine.logging import MMLogger

    init = MMLogger.__init__
    if getattr(init, _SHIM_MARK, False):
        return False
    log_filter = QuietUpstreamLogFilter()

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.addFilter(log_filter)

    setattr(__init__, _SHIM_MARK, True)
    MMLogger.__init__ = __init__
    for logger in MMLogger._instance_dict.values():
        logger.addFilter(log_filter)
    return True


# --------------------------------------------------------------------------
# Distributed initialisation without CUDA
# --------------------------------------------------------------------------


def _skip_set_device(device: Any) -> None:
    """Stand-in for ``torch.cuda.set_device`` while no GPU exists."""


def _cpu_capable_dist_init(init_fn: Callable) -> Callable:
    """Wrap one of mmengine's ``_init_dist_*`` functions for CUDA-less
    machines: skip ``torch.cuda.set_device`` and replace the NCCL backend
    (GPU only) by gloo. Where CUDA is available at call time the original
    runs untouched."""

    @functools.wraps(init_fn)
    def wrapper(backend: str, *args, **kwargs):
        import torch

        if torch.cuda.is_available():
            return init_fn(backend, *args, **kwargs)
        if backend == 'nccl':
            from mmengine.logging import print_log

            print_log(
                'CUDA is unavailable: using the gloo backend instead of nccl '
                'for distributed runs (mmaction_tdsclip.compat).',
                logger='current',
                level=logging.WARNING,
            )
            backend = 'gloo'
        set_device = torch.cuda.set_device
        torch.cuda.set_device = _skip_set_device
        try:
            return init_fn(backend, *args, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    setattr(wrapper, _SHIM_MARK, True)
    return wrapper


def enable_cpu_distributed() -> bool:
    """Let ``--launcher pytorch`` / ``mpi`` runs start on CUDA-less machines.

    mmengine 0.10.7 calls ``torch.cuda.set_device(local_rank)`` in
    distributed initialisation whatever the machine has; on a CPU build of
    torch that raises ``AttributeError`` (``torch._C`` has no
    ``_cuda_setDevice``), on a CUDA build without GPU a ``RuntimeError``.
    The wrapped initialisers skip that call and pick gloo where the config
    asks for nccl, so configs keep ``backend='nccl'`` for GPU users.

    Nothing is patched where CUDA is available. (SLURM initialisation
    divides by the GPU count and is left alone: it cannot run without GPUs.)
    The DDP wrapper's ``device_ids`` is set by the config
    (``configs/_base_/default_runtime.py``).

    Returns True when the initialisers were wrapped.
    """
    import torch

    if torch.cuda.is_available():
        return False
    from mmengine.dist import utils as dist_utils

    changed = False
    for name in ('_init_dist_pytorch', '_init_dist_mpi'):
        init_fn = getattr(dist_utils, name, None)
        if init_fn is None or getattr(init_fn, _SHIM_MARK, False):
            continue
        setattr(dist_utils, name, _cpu_capable_dist_init(init_fn))
        changed = True
    return changed


# --------------------------------------------------------------------------
# weights_only loading of mmengine checkpoints
# --------------------------------------------------------------------------


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to what a pickled ``HistoryBuffer`` needs.

    A ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` and so on. Allow-listing the real
    ``builtins.getattr`` would let a pickle reach any attribute of any
    allowed object (``__globals__`` and from there arbitrary code), so this
    stand-in answers only those lookups.
    """
    from mmengine.logging import HistoryBuffer

    if (
        isinstance(obj, type)
        and issubclass(obj, HistoryBuffer)
        and not name.startswith('_')
        and (name in HistoryBuffer._statistics_methods or name in ('min', 'max', 'current', 'mean'))
    ):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'weights_only load refused getattr({obj!r}, {name!r}): only '
        'HistoryBuffer statistics methods are allowed '
        '(mmaction_tdsclip.compat)'
    )


def _numpy_safe_globals() -> List[Any]:
    """numpy objects that mmengine checkpoints pickle (arrays, scalars and
    dtypes in ``message_hub``), under their numpy 1.x and 2.x paths."""
    import numpy as np

    multiarray = getattr(np, '_core', None) or np.core
    multiarray = multiarray.multiarray
    entries: List[Any] = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((multiarray._reconstruct, f'{module}._reconstruct'))
        entries.append((multiarray.scalar, f'{module}.scalar'))
    # numpy >= 1.25 gives every dtype its own class; unpickling a dtype
    # BUILDs an instance of it, which weights_only checks against the list.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries.extend(
            cls
            for cls in vars(dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype)
        )
    return entries


def mmengine_checkpoint_safe_globals() -> List[Any]:
    """Everything :func:`allow_mmengine_checkpoints` allow-lists."""
    from mmengine.logging import HistoryBuffer

    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        *_numpy_safe_globals(),
    ]


def allow_mmengine_checkpoints() -> bool:
    """Let mmengine checkpoints load with ``weights_only=True``.

    torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine
    0.10.7's ``torch.load`` calls (``load_checkpoint``, ``Runner.resume``)
    then fail on ``HistoryBuffer`` and numpy objects that the message hub
    stores. Instead of switching the protection off
    (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, or ``weights_only=False``), the
    few types such checkpoints contain are allow-listed; a pickle that
    would run other code is still refused.

    Returns True when globals were added; False when torch has no
    allow-list or ``HistoryBuffer`` is already on it (upstream fixed).
    """
    import torch.serialization as serialization

    if not hasattr(serialization, 'add_safe_globals'):
        return False
    from mmengine.logging import HistoryBuffer

    if HistoryBuffer in serialization.get_safe_globals():
        return False
    serialization.add_safe_globals(mmengine_checkpoint_safe_globals())
    return True


# --------------------------------------------------------------------------
# One summary line for frozen parameters in the optimizer constructor
# --------------------------------------------------------------------------

_FROZEN_PARAM_MESSAGE = re.compile(r'^(?P<name>\S+) is skipped since its requires_grad=False$')


class FrozenParamLogCollector(logging.Filter):
    """Logger filter that swallows the optimizer constructor's
    "<param> is skipped since its requires_grad=False" records, keeping
    their names; every other record passes."""

    def __init__(self) -> None:
        super().__init__()
        self.names: List[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        match = _FROZEN_PARAM_MESSAGE.match(record.getMessage())
        if match is None:
            return True
        self.names.append(match['name'].lstrip('.'))
        return False

    def summary(self) -> str:
        """One line: how many parameters were skipped, by top module."""
        groups: Dict[str, int] = Counter(name.split('.', 1)[0] for name in self.names)
        detail = ', '.join(f'{module}: {count}' for module, count in sorted(groups.items()))
        return (
            f'{len(self.names)} parameters with requires_grad=False '
            f'are left out of the optimizer ({detail})'
        )


def summarise_frozen_param_warnings() -> bool:
    """Collapse the optimizer constructor's per-parameter warnings.

    With a ``paramwise_cfg``, mmengine's ``DefaultOptimWrapperConstructor``
    logs one warning per frozen parameter (about 200 lines for a frozen
    CLIP ViT-B). The wrapped constructor collects those records while it
    runs and logs one summary line instead; other records are untouched.

    Returns True when the constructor was wrapped; False when the
    installed mmengine no longer logs per frozen parameter.
    """
    from mmengine.optim import DefaultOptimWrapperConstructor

    call = DefaultOptimWrapperConstructor.__call__
    if getattr(call, _SHIM_MARK, False):
        return False
    try:
        source = inspect.getsource(DefaultOptimWrapperConstructor.add_params)
    except (OSError, TypeError):
        return False
    # The message is split over two f-string parts in the source.
    if 'is skipped since its' not in source or 'requires_grad' not in source:
        return False

    @functools.wraps(call)
    def __call__(self, model):
        from mmengine.logging import MMLogger, print_log

        logger = MMLogger.get_current_instance()
        collector = FrozenParamLogCollector()
        logger.addFilter(collector)
        try:
            return call(self, model)
        finally:
            logger.removeFilter(collector)
            if collector.names:
                print_log(collector.summary(), logger=logger)

    setattr(__call__, _SHIM_MARK, True)
    DefaultOptimWrapperConstructor.__call__ = __call__
    return True


def apply_all() -> Dict[str, bool]:
    """Apply every shim; returns which of them changed something."""
    return {
        'stub_missing_drn_localizer': stub_missing_drn_localizer(),
        'quiet_upstream_logs': quiet_upstream_logs(),
        'enable_cpu_distributed': enable_cpu_distributed(),
        'allow_mmengine_checkpoints': allow_mmengine_checkpoints(),
        'summarise_frozen_param_warnings': summarise_frozen_param_warnings(),
    }
