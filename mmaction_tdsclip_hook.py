"""Start-up hook of mmaction-tdsclip: run by ``mmaction_tdsclip_hook.pth``
at interpreter start in every environment where the plugin is installed.

It does two cheap things and imports nothing heavy (no torch, no mmaction):

1. Registers :class:`MissingDRNFinder`, a meta-path finder consulted only
   for ``mmaction.models.localizers.drn``: the mmaction2 1.2.0 wheel lacks
   that folder while ``mmaction/models/localizers/__init__.py`` imports it
   (open-mmlab/mmaction2#2714), so without the finder every import of
   ``mmaction.models`` fails, including MMAction2's own tools
   (``confusion_matrix.py``, ``get_flops.py``) and user scripts that never
   import the plugin. Where the real module exists it is found first and
   the finder does nothing.
2. Filters the upstream warnings a user cannot act on (:data:`QUIET_WARNINGS`).

``import mmaction_tdsclip`` calls :func:`install` too, so the plugin works
the same where the ``.pth`` file was not processed (e.g. run from a source
checkout through ``PYTHONPATH``). Calling it twice is harmless.
"""

import importlib.abc
import importlib.machinery
import sys
import warnings

DRN_PACKAGE = 'mmaction.models.localizers.drn'
DRN_MODULE = DRN_PACKAGE + '.drn'

# (message regex, category, module regex) of warnings.filterwarnings; each is
# raised by an import or a call the user does not control:
QUIET_WARNINGS = (
    # mmcv-lite has no compiled ops; recognition does not use this module.
    (r'Fail to import ``MultiScaleDeformableAttention``', UserWarning, r'mmcv\.cnn\.bricks'),
    # mim (and mmengine's `mmaction::` config lookup, via importlib) import
    # pkg_resources; setuptools < 81 is pinned for exactly that reason.
    (r'pkg_resources is deprecated as an API', UserWarning, r'(mim|mmengine|importlib)(\.|$)'),
)


class _DRNStubLoader(importlib.abc.Loader):
    """Creates the empty ``drn`` package and its ``drn.drn`` module, whose
    ``DRN`` raises a clear error if anyone builds it."""

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        if module.__name__ == DRN_PACKAGE:
            return

        class DRN:
            """Placeholder for the DRN localizer missing from the mmaction2 wheel."""

            def __init__(self, *args, **kwargs):
                raise ImportError(
                    'DRN is missing from the installed mmaction2 wheel '
                    '(open-mmlab/mmaction2#2714); mmaction-tdsclip stubs it so that '
                    'mmaction.models imports.'
                )

        module.DRN = DRN


class MissingDRNFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that answers for ``mmaction.models.localizers.drn``
    (and ``.drn.drn``) only when no other finder can."""

    _loader = _DRNStubLoader()

    def find_spec(self, fullname, path=None, target=None):
        # Last on sys.meta_path: reached only when the regular finders found
        # nothing, so upstream's module, where a wheel has it, always wins.
        if fullname == DRN_PACKAGE:
            spec = importlib.machinery.ModuleSpec(fullname, self._loader, is_package=True)
            spec.submodule_search_locations = []
            return spec
        parent = sys.modules.get(DRN_PACKAGE)
        if fullname == DRN_MODULE and getattr(parent, '__loader__', None) is self._loader:
            return importlib.machinery.ModuleSpec(fullname, self._loader)
        return None


def install_drn_finder() -> bool:
    """Put :class:`MissingDRNFinder` at the end of ``sys.meta_path``.

    Returns True when it was added (False: already there).
    """
    if any(type(f).__name__ == MissingDRNFinder.__name__ for f in sys.meta_path):
        return False
    sys.meta_path.append(MissingDRNFinder())
    return True


def filter_upstream_warnings() -> None:
    """Add :data:`QUIET_WARNINGS` to the warning filters (once)."""
    for message, category, module in QUIET_WARNINGS:
        if any(
            f[0] == 'ignore'
            and getattr(f[1], 'pattern', None) == message
            and getattr(f[3], 'pattern', None) == module
            for f in warnings.filters
        ):
            continue
        warnings.filterwarnings('ignore', message=message, category=category, module=module)


def install() -> None:
    """Everything the ``.pth`` file runs at start-up."""
    install_drn_finder()
    filter_upstream_warnings()
