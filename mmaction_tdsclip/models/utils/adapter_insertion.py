"""Insert TD-Adapters (or any video adapter) after named submodules of a built model.

The adapter sees a ``(B, C, T, H, W)`` video feature map; :class:`InsertedAdapter`
converts the host module's output layout to it and back, and runs as a forward
hook of the host, so the host's parameter names (and pretrained checkpoints)
are untouched.
"""

import copy
import fnmatch
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from ..adapters import TDAdapter

LAYOUTS = ('NCTHW', 'NCHW-frames', 'tokens', 'video-tokens')
TOKEN_ORDERS = ('tn', 'nt')
# Attributes that give the output width of common layers, in lookup order.
_WIDTH_ATTRS = ('out_channels', 'num_features', 'embed_dims', 'out_features')
# Attributes of stock video backbones that give T (TSM's num_segments, TimeSformer's num_frames).
_SEGMENT_ATTRS = ('num_segments', 'num_frames')


def match_module_names(model: nn.Module, pattern: str) -> List[str]:
    """Names of the submodules of ``model`` that ``pattern`` selects.

    Args:
        model: Any module.
        pattern: A dotted glob matched segment by segment (``'*'`` never
            crosses a dot: ``'layer*.*.conv2'`` matches ``'layer1.0.conv2'``
            but not ``'layer1.0.downsample.conv2'``), or a Python regular
            expression prefixed with ``'re:'`` that must match the whole
            name (``'re:blocks\\.(1|3)'``).

    Returns:
        Matching names in ``named_modules`` order (the root is never matched).
    """
    names = [name for name, _ in model.named_modules() if name]
    if pattern.startswith('re:'):
        regex = re.compile(pattern[3:])
        return [name for name in names if regex.fullmatch(name)]
    parts = pattern.split('.')
    return [
        name
        for name in names
        if len(name.split('.')) == len(parts)
        and all(fnmatch.fnmatchcase(seg, pat) for seg, pat in zip(name.split('.'), parts))
    ]


def infer_width(module: nn.Module) -> Optional[int]:
    """Output channels of common layers (convs, norms, linears, transformer layers), or None."""
    for attr in _WIDTH_ATTRS:
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
    shape = getattr(module, 'normalized_shape', None)
    return shape[-1] if shape else None


def infer_num_segments(model: nn.Module) -> Optional[int]:
    """``T`` declared by stock video backbones (``num_segments`` / ``num_frames``), or None."""
    for attr in _SEGMENT_ATTRS:
        value = getattr(model, attr, None)
        if isinstance(value, int):
            return value
    return None


def init_identity(adapter: nn.Module) -> None:
    """Make a TD-Adapter the identity: ``bn2`` weight and bias 0 give ``y = 0``, ``g = 0``, ``Z + Z*g = Z``.

    An option for inserting adapters into a trained model only; TDS-CLIP's
    own side network initialises BatchNorm to weight 1, bias 0.
    """
    if not isinstance(adapter, TDAdapter):
        raise TypeError(
            f'identity_init is defined for TDAdapter only, not {type(adapter).__name__}.'
        )
    nn.init.zeros_(adapter.bn2.weight)
    nn.init.zeros_(adapter.bn2.bias)


class InsertedAdapter(nn.Module):
    """An adapter applied to the output of one host module, with the layout conversions around it.

    Layouts of the host's output (``B`` clips of ``T`` frames, ``E`` extra
    tokens such as a class token, ``N = h*w`` patch tokens):

    - ``'NCTHW'``: ``(B, C, T, H, W)`` (3D CNNs).
    - ``'NCHW-frames'``: ``(B*T, C, H, W)``, clip-major (TSN / TSM).
    - ``'tokens'``: ``(B*T, E+N, C)``, per-frame ViT tokens.
    - ``'video-tokens'``: ``(B, E+T*N, C)``, joint space-time tokens,
      ordered time-major (``'tn'``: token ``t*N + p``) or patch-major
      (``'nt'``: ``p*T + t``, MMAction2's TimeSformer).

    Extra tokens pass through unchanged; the adapter sees the patch tokens
    as ``(B, C, T, h, w)``.

    Args:
        adapter: A module mapping ``(B, C, T, H, W)`` to the same shape.
        name: The host module's name (for messages).
        layout: One of :data:`LAYOUTS`.
        num_segments: ``T`` (not needed for ``'NCTHW'``).
        num_extra_tokens: ``E`` for token layouts.
        grid_size: ``(h, w)`` for token layouts; a square grid is assumed
            when None.
        token_order: ``'tn'`` or ``'nt'`` for ``'video-tokens'``.
        identity_init: Re-apply :func:`init_identity` in ``init_weights``.
    """

    def __init__(
        self,
        adapter: nn.Module,
        name: str,
        layout: str,
        num_segments: Optional[int] = None,
        num_extra_tokens: int = 0,
        grid_size: Optional[Tuple[int, int]] = None,
        token_order: str = 'tn',
        identity_init: bool = False,
    ) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f'Adapter after {name!r}: layout={layout!r} is not one of {LAYOUTS}.')
        if layout != 'NCTHW' and not num_segments:
            raise ValueError(
                f'Adapter after {name!r}: layout {layout!r} needs num_segments (it could not be '
                'read from the backbone).'
            )
        if token_order not in TOKEN_ORDERS:
            raise ValueError(f'token_order={token_order!r} is not one of {TOKEN_ORDERS}.')
        self.adapter = adapter
        self.name = name
        self.layout = layout
        self.num_segments = num_segments
        self.num_extra_tokens = num_extra_tokens
        self.grid_size = tuple(grid_size) if grid_size is not None else None
        self.token_order = token_order
        self.identity_init = identity_init
        self.handle = None
        if identity_init:
            init_identity(adapter)

    def init_weights(self) -> None:
        if self.identity_init:
            init_identity(self.adapter)

    def _grid(self, num_patches: int) -> Tuple[int, int]:
        if self.grid_size is not None:
            if self.grid_size[0] * self.grid_size[1] != num_patches:
                raise ValueError(
                    f'Adapter after {self.name!r}: grid_size {self.grid_size} does not hold '
                    f'{num_patches} patch tokens.'
                )
            return self.grid_size
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f'Adapter after {self.name!r}: {num_patches} patch tokens are not a square '
                'grid; set grid_size.'
            )
        return side, side

    def _clips(self, frames: int) -> int:
        if frames % self.num_segments:
            raise ValueError(
                f'Adapter after {self.name!r}: {frames} frames in the batch are not a multiple '
                f'of num_segments={self.num_segments}.'
            )
        return frames // self.num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the adapter to the host output ``x`` (in ``layout``); same shape out."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f'Adapter after {self.name!r}: the module returns a {type(x).__name__}, '
                'not a tensor; insert the adapter after a submodule that returns one.'
            )
        T, E = self.num_segments, self.num_extra_tokens
        if self.layout == 'NCTHW':
            return self.adapter(x)
        if self.layout == 'NCHW-frames':
            BT, C, H, W = x.shape
            B = self._clips(BT)
            video = x.reshape(B, T, C, H, W).transpose(1, 2)
            return self.adapter(video).transpose(1, 2).reshape(BT, C, H, W)
        if self.layout == 'tokens':
            BT, L, C = x.shape
            B = self._clips(BT)
            h, w = self._grid(L - E)
            video = x[:, E:].reshape(B, T, h, w, C).permute(0, 4, 1, 2, 3)
            patches = self.adapter(video).permute(0, 2, 3, 4, 1).reshape(BT, h * w, C)
            return torch.cat([x[:, :E], patches], dim=1)
        B, L, C = x.shape
        if (L - E) % T:
            raise ValueError(
                f'Adapter after {self.name!r}: {L - E} tokens are not a multiple of num_segments={T}.'
            )
        h, w = self._grid((L - E) // T)
        if self.token_order == 'tn':
            video = x[:, E:].reshape(B, T, h, w, C).permute(0, 4, 1, 2, 3)
            patches = self.adapter(video).permute(0, 2, 3, 4, 1)
        else:
            video = x[:, E:].reshape(B, h, w, T, C).permute(0, 4, 3, 1, 2)
            patches = self.adapter(video).permute(0, 3, 4, 2, 1)
        return torch.cat([x[:, :E], patches.reshape(B, L - E, C)], dim=1)

    def hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        """Forward hook of the host module: replace its output by the adapted one."""
        return self(output)

    def remove(self) -> None:
        """Detach from the host module."""
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def _module_key(name: str) -> str:
    # ModuleDict keys cannot contain dots.
    return name.replace('.', '__')


def insert_adapters(model: nn.Module, adapters: Sequence[Dict]) -> nn.ModuleDict:
    """Model surgery: build adapters and hook them after the named submodules of ``model``.

    Each entry of ``adapters`` is a config dict:

    - ``after``: a pattern (or list of patterns) of submodule names, see
      :func:`match_module_names`; every match gets its own adapter.
    - ``layout``: see :class:`InsertedAdapter` (default ``'NCTHW'``).
    - ``num_segments``: ``T``; read from ``model.num_segments`` /
      ``model.num_frames`` (the stock backbones' names) when omitted.
    - ``num_extra_tokens``, ``grid_size``, ``token_order``: token layouts.
    - ``identity_init``: start as the identity (:func:`init_identity`).
    - the rest is the adapter's config: ``type`` (default ``'TDAdapter'``)
      and its arguments; ``channels`` is read from the host module
      (``out_channels``, ``num_features``, ``embed_dims``, ...) when omitted.

    The adapters are forward hooks and hold no reference that
    ``state_dict`` would see through the host, so the caller must keep the
    returned ``ModuleDict`` as a submodule for them to be trained and saved.
    Deep copies of the caller's module copy the hooks with their adapters.

    Returns:
        ``ModuleDict`` of :class:`InsertedAdapter`, keyed by host name with
        dots replaced by ``'__'``.
    """
    inserted = nn.ModuleDict()
    modules = dict(model.named_modules())
    for spec in adapters:
        spec = copy.deepcopy(dict(spec))
        if 'after' not in spec:
            raise ValueError(f'Adapter config {spec} lacks "after" (the submodule name pattern).')
        patterns = spec.pop('after')
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        hosting = dict(
            layout=spec.pop('layout', 'NCTHW'),
            num_segments=spec.pop('num_segments', None) or infer_num_segments(model),
            num_extra_tokens=spec.pop('num_extra_tokens', 0),
            grid_size=spec.pop('grid_size', None),
            token_order=spec.pop('token_order', 'tn'),
            identity_init=spec.pop('identity_init', False),
        )
        spec.setdefault('type', 'TDAdapter')
        for pattern in patterns:
            names = match_module_names(model, pattern)
            if not names:
                examples = [n for n in modules if n][:12]
                raise ValueError(
                    f'Adapter pattern {pattern!r} matches no submodule of '
                    f'{type(model).__name__}; names look like {examples}.'
                )
            for name in names:
                key = _module_key(name)
                if key in inserted:
                    raise ValueError(f'Two adapter patterns select {name!r}.')
                cfg = dict(spec)
                if 'channels' not in cfg:
                    cfg['channels'] = infer_width(modules[name])
                    if cfg['channels'] is None:
                        raise ValueError(
                            f'Cannot read the output width of {name!r} '
                            f'({type(modules[name]).__name__}); set channels in its adapter config.'
                        )
                wrapper = InsertedAdapter(MODELS.build(cfg), name, **hosting)
                wrapper.handle = modules[name].register_forward_hook(wrapper.hook)
                inserted[key] = wrapper
    return inserted
