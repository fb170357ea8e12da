"""Strict loading of checkpoints into a TDS-CLIP recognizer.

MMEngine loads checkpoints non-strictly by default (``Runner.load_checkpoint``
for ``load_from`` / ``--resume`` / ``tools/test.py``, ``init_recognizer``,
the Inferencers): a checkpoint of another architecture only prints
size-mismatch lines, and the run goes on with partly random weights. All of
these paths, like ``torch.nn.Module.load_state_dict``, call the root
module's ``_load_from_state_dict`` with the whole state dict before any
child loads. :class:`StrictLoadMixin` checks the state dict there and raises
:class:`CheckpointMismatchError` naming every key and shape that does not
fit, so a wrong checkpoint fails before the first batch, whatever loaded it.

Two things are not mismatches:

* keys under ``checkpoint_skip_prefixes`` (the one explicit option, for
  fine-tuning from a checkpoint with another head, e.g. ``['cls_head.']``):
  where the checkpoint's tensor is missing, extra or of another shape, the
  model keeps its own initialisation, and a warning names each such key;
* missing keys of a child module that already loaded its weights from a file
  when it was built (``weights_loaded_from``, set by the CLIP loaders): a
  checkpoint of the side network alone, with the frozen CLIP tower from
  ``model.backbone.pretrained``. Missing ``num_batches_tracked`` counters are
  not weights either (MMEngine ignores them too).
"""

import logging
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .reader import CheckpointFormatError


class CheckpointMismatchError(CheckpointFormatError):
    """A checkpoint whose keys or shapes do not fit the model."""


def _shape(tensor) -> Tuple[int, ...]:
    return tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else ()


def fit_state_dict(
    model: nn.Module,
    state_dict: Dict[str, torch.Tensor],
    prefix: str = '',
    skip_prefixes: Sequence[str] = (),
) -> List[str]:
    """Check (and adjust in place) a state dict about to load into ``model``.

    Args:
        model: The module being loaded.
        state_dict: Keys ``prefix + <model key>`` (other keys are left
            alone). Edited in place: keys that the model keeps its own value
            for get the model's tensor, extra keys under ``skip_prefixes``
            are removed, so the per-module loads that follow see no mismatch.
        prefix: ``model``'s prefix in ``state_dict``.
        skip_prefixes: Model keys under these prefixes may differ from the
            checkpoint.

    Returns:
        ``'<key>: <why>'`` for every key skipped under ``skip_prefixes``.

    Raises:
        CheckpointMismatchError: naming every missing, unexpected or
            differently shaped key with its shapes.
    """
    own = model.state_dict()
    theirs = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    loaded_children = tuple(
        f'{name}.'
        for name, child in model.named_children()
        if getattr(child, 'weights_loaded_from', None)
    )
    skip_prefixes = tuple(skip_prefixes)
    problems, skipped = [], []

    def keep_own(key: str, why: str) -> None:
        if key.startswith(skip_prefixes):
            skipped.append(f'{key}: {why}')
        else:
            problems.append(f'{key}: {why}')
        state_dict[prefix + key] = own[key]

    for key, value in own.items():
        if key not in theirs:
            if key.startswith(loaded_children) or key.endswith('num_batches_tracked'):
                state_dict[prefix + key] = value
            else:
                keep_own(key, f'missing from the checkpoint (model {_shape(value)})')
        elif _shape(theirs[key]) != _shape(value):
            keep_own(key, f'checkpoint {_shape(theirs[key])}, model {_shape(value)}')
    for key in sorted(set(theirs) - set(own)):
        why = f'not in the model (checkpoint {_shape(theirs[key])})'
        if key.startswith(skip_prefixes):
            skipped.append(f'{key}: {why}')
            del state_dict[prefix + key]
        else:
            problems.append(f'{key}: {why}')
    if problems:
        raise CheckpointMismatchError(
            f'The checkpoint does not fit {type(model).__name__} as configured: '
            f'{len(problems)} tensors differ ({"; ".join(problems)}). Use the config the '
            'checkpoint was trained with (tools/convert_weights.py names the architecture of '
            "an authors' file). To fine-tune from a checkpoint with another head, set "
            "model.checkpoint_skip_prefixes=['cls_head.']."
        )
    return skipped


class StrictLoadMixin:
    """Makes every state-dict load into the module strict (see the module doc).

    The class using it sets ``self.checkpoint_skip_prefixes`` (a tuple of
    key prefixes, empty by default).
    """

    checkpoint_skip_prefixes: Tuple[str, ...] = ()

    def _load_from_state_dict(
        self,
        state_dict,
        prefix,
        local_metadata,
        strict,
        missing_keys,
        unexpected_keys,
        error_msgs,
    ) -> None:
        skipped = fit_state_dict(self, state_dict, prefix, self.checkpoint_skip_prefixes)
        if skipped:
            from mmengine.logging import print_log

            print_log(
                f'checkpoint_skip_prefixes={list(self.checkpoint_skip_prefixes)}: these '
                f"{len(skipped)} tensors keep the model's initialisation: " + '; '.join(skipped),
                logger='current',
                level=logging.WARNING,
            )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
