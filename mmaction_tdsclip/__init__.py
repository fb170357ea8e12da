"""mmaction-tdsclip: TDS-CLIP (Temporal Difference Side Network) for MMAction2.

Importing this package applies the compatibility shims for the pinned
OpenMMLab stack, makes MMEngine read local checkpoints with the plugin's safe
reader (:func:`mmaction_tdsclip.weights.use_for_mmengine`) and registers
every module of the plugin into MMAction2's registries
(``default_scope='mmaction'``).
"""

import mmaction_tdsclip_hook

# Before anything imports mmaction: its import of mmcv warns at once.
mmaction_tdsclip_hook.install()

from . import compat, weights  # noqa: E402

compat.apply_all()
weights.use_for_mmengine()

from . import datasets, engine, models  # noqa: E402,F401  (registration)

__version__ = '0.1.0'
