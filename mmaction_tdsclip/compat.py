"""Compatibility shims for the pinned OpenMMLab stack on modern torch / numpy.

Each shim checks whether the breakage is still present and does nothing once
upstream has fixed it.
"""
import importlib.util
import os
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
    # find_spec on the dotted name would import mmaction.models, which is
    # the import that fails, so locate the folder from the top package.
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    for loc in spec.submodule_search_locations:
        if os.path.isdir(os.path.join(loc, 'models', 'localizers', 'drn')):
            return False
    class DRN:
        """Placeholder for the DRN localizer missing from the wheel."""

        def __init__(self, *args, **kwargs):
            raise ImportError('DRN is missing from the installed mmaction2 '
                              'wheel (open-mmlab/mmaction2#2714).')

    package = types.ModuleType(name)
    package.__path__ = []
    module = types.ModuleType(name + '.drn')
    module.DRN = DRN
    package.drn = module
    sys.modules[name] = package
    sys.modules[name + '.drn'] = module
    return True


def apply_all() -> None:
    stub_missing_drn_localizer()
