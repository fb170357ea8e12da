"""Engine components (hooks) of TDS-CLIP."""

from . import hooks  # noqa: F401  (registration)
from .hooks import *  # noqa: F401,F403
