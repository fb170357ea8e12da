"""A base class for frozen ViT wrappers that hand per-layer tokens to a side network."""

from contextlib import nullcontext
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ...constants import PRECISION_DTYPES


class FrozenTokenBackbone(BaseModule):
    """Frozen ViT that returns the tokens of chosen blocks.

    This is the backbone protocol of :class:`TDSCLIPRecognizer`: subclasses
    set ``embed_dims``, ``num_layers``, ``patch_size``, ``grid_size`` and
    implement :meth:`embed` (images to the tokens entering the first block)
    and :attr:`blocks` (the blocks, in order). Parameters are frozen, the
    module stays in eval mode, and :meth:`forward` runs without autograd.

    Args:
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'``; the low precisions
            run the blocks under autocast and return tokens in that dtype.
            ``'fp32'`` adds no autocast of its own: an enclosing one (such
            as MMEngine's ``AmpOptimWrapper``) still runs the tower's
            matrix products in half precision, and the tokens are returned
            (and kept for the side network's backward) in float32, twice
            the memory of ``'fp16'`` for the same products.
        init_cfg: Unused: weights are set at construction, so that a test
            run (which never calls ``init_weights``) cannot use random ones.
    """

    embed_dims: int
    num_layers: int
    patch_size: int
    grid_size: Tuple[int, int]

    def __init__(self, precision: str = 'fp32', init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if precision not in PRECISION_DTYPES:
            raise ValueError(f'precision={precision!r} is not one of {sorted(PRECISION_DTYPES)}.')
        self.precision = precision

    @property
    def blocks(self) -> Sequence[nn.Module]:
        raise NotImplementedError

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``(M, 3, H, W) -> (M, N+1, W)`` tokens entering the first block."""
        raise NotImplementedError

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``(M, N+1, W) -> (M, N+1, W)``; override for blocks with another calling convention."""
        return block(x)

    def freeze(self) -> None:
        """Turn off gradients of every parameter and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def init_weights(self) -> None:
        """Weights were set at construction; the runner must not re-initialise them."""

    def train(self, mode: bool = True) -> 'FrozenTokenBackbone':
        """Stay in eval mode: dropout, drop path and BatchNorm statistics stay frozen."""
        return super().train(False)

    @property
    def output_dtype(self) -> torch.dtype:
        return PRECISION_DTYPES[self.precision]

    def _autocast(self, device: torch.device):
        if self.precision == 'fp32':
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.output_dtype)

    def check_image_size(self, images: torch.Tensor) -> None:
        expected = tuple(g * self.patch_size for g in self.grid_size)
        if tuple(images.shape[-2:]) != expected:
            raise ValueError(
                f'{type(self).__name__} was built for {expected[0]}x{expected[1]} inputs '
                f'(patch grid {tuple(self.grid_size)}, patch {self.patch_size}) but got '
                f'{tuple(images.shape[-2:])}; make the crop size and the backbone image '
                'size agree.'
            )

    def forward(
        self, images: torch.Tensor, out_layers: Optional[Sequence[int]] = None
    ) -> List[torch.Tensor]:
        """Per-layer tokens of the frozen ViT.

        Args:
            images: ``(M, 3, H, W)``, normalised.
            out_layers: Block indices to return; all blocks when None.

        Returns:
            One ``(M, N+1, W)`` tensor per requested block, in increasing
            block order, class token first, in the dtype of ``precision``.
        """
        wanted = set(range(self.num_layers) if out_layers is None else out_layers)
        bad = sorted(i for i in wanted if not 0 <= i < self.num_layers)
        if bad or not wanted:
            raise ValueError(
                f'out_layers must be a non-empty subset of [0, {self.num_layers}), '
                f'got {out_layers}.'
            )
        self.check_image_size(images)
        outs = []
        with torch.no_grad(), self._autocast(images.device):
            x = self.embed(images)
            for i, block in enumerate(self.blocks[: max(wanted) + 1]):
                x = self.run_block(block, x)
                if i in wanted:
                    outs.append(x.to(self.output_dtype))
        return outs
