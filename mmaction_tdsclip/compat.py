"""Compatibility shims for the pinned OpenMMLab stack on modern torch / numpy.

Each shim checks whether the breakage is still present and does nothing once
upstream has fixed it.
"""
import importlib.util
import sys
import types


def stub_missing_drn_localizer() -> bool:
    """mmaction2 1.2.0 wheels lack ``mmaction/models/localizers/drn`` while
    ``localizers/__init__.py`` imports it (open-mmlab/mmaction2#2714).

    Returns True when a stub was installed.
    """
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction.models.localizers')
    if spec is None or not spec.submodule_search_locations:
        return False
    import os
    for loc in spec.submodule_search_locations:
        if os.path.isdir(os.path.join(loc, 'drn')):
            return False
    stub = types.ModuleType(name)
    stub.__doc__ = 'Stub for the DRN localizer missing from the mmaction2 wheel.'

    class DRN:  # noqa: D401 - placeholder class
        def __init__(self, *args, **kwargs):
            raise ImportError('DRN is missing from the installed mmaction2 wheel.')

    stub.DRN = DRN
    sys.modules[name] = stub
    return True


def apply_all() -> None:
    stub_missing_drn_localizer()
