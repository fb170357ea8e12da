"""Refuse misspelled top-level keys in ``--cfg-options``.

``cfg.merge_from_dict({'optim_wraper.optimizer.lr': 1e-6})`` adds a new
top-level key ``optim_wraper`` that nothing reads: the run trains at the old
learning rate and says nothing. :func:`check_cfg_options` refuses such a key
when it is close to an existing one, naming it. What stays allowed:

- keys already in the config;
- the top-level keys MMEngine's ``Runner`` reads without the config having
  to hold them (``compile``, ``auto_scale_lr``, ``resume``, ...);
- new keys far from any existing one (a new variable of one's own);
- new nested keys under an existing dict (``model.backbone.new_arg=1``), as
  MMEngine intends.

The check needs the options before they are merged, so the command-line
tools call it (``tools/train.py``, ``tools/test.py``); under ``mim train``
the options are already part of the config when the plugin first sees it.
"""

import inspect
from typing import Any, Iterable, List, Mapping, Optional

# Top-level keys that MMEngine's Runner reads from the config besides the
# arguments of Runner.__init__ (mmengine 0.10: Runner.__init__,
# wrap_model, _maybe_compile, ...), and ``runner_type`` of MMAction2's tools.
RUNNER_CONFIG_KEYS = (
    'compile',
    'model_wrapper_cfg',
    'find_unused_parameters',
    'sync_bn',
    'activation_checkpointing',
    'efficient_conv_bn_eval',
    'runner_type',
)


class MisspelledConfigKeyError(ValueError):
    """A ``--cfg-options`` key that is probably a misspelled config key."""


def runner_keys() -> List[str]:
    """Top-level config keys MMEngine's Runner reads."""
    from mmengine.runner import Runner

    params = inspect.signature(Runner.__init__).parameters
    return [name for name in params if name not in ('self', 'cfg')] + list(RUNNER_CONFIG_KEYS)


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(
                rows[i - 1][j] + 1,
                row[j - 1] + 1,
                rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _max_edits(key: str) -> int:
    """How far a key may be from an existing one to count as a misspelling
    of it: 1 edit for short keys, 2 from 8 characters."""
    return 0 if len(key) < 4 else (1 if len(key) < 8 else 2)


def closest_key(key: str, known: Iterable[str]) -> Optional[str]:
    """The known key a new key is probably a misspelling of, or None."""
    best, best_distance = None, _max_edits(key) + 1
    for candidate in sorted(set(known)):
        distance = edit_distance(key, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def check_cfg_options(cfg: Mapping, options: Optional[Mapping[str, Any]]) -> None:
    """Refuse ``--cfg-options`` whose top-level key is a likely misspelling.

    Args:
        cfg: The config the options will be merged into (not yet merged).
        options: ``{'a.b.c': value}``, as ``DictAction`` parses them.

    Raises:
        MisspelledConfigKeyError: naming each such key and the existing
            key it is closest to.
    """
    if not options:
        return
    existing = set(cfg.keys())
    allowed = existing | set(runner_keys())
    problems = []
    for option in options:
        top = option.split('.', 1)[0]
        if top in allowed:
            continue
        near = closest_key(top, allowed)
        if near is not None:
            problems.append(
                f'--cfg-options {option}: the config has no key {top!r}; did you mean '
                f'{near!r}? ({option.replace(top, near, 1)}=...). A key nothing reads would '
                'be ignored silently.'
            )
    if problems:
        raise MisspelledConfigKeyError('\n'.join(problems))
