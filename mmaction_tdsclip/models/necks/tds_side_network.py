"""The TDS side network (neck): stem + SME-Adapter, then one TDS block per frozen layer."""

from contextlib import nullcontext
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from torch.utils.checkpoint import checkpoint

from ...constants import HEAD_WIDTH, PRECISION_DTYPES
from ..adapters import SMEAdapter
from ..layers import conv_bn_tokens
from .base_side_neck import BaseSideNeck
from .side_projection import SideProjection
from .tds_block import TDSBlock, frozen_batchnorm_stats, video_to_tokens


@MODELS.register_module()
class TDSSideNetwork(BaseSideNeck):
    """TDS-CLIP's trainable side network.

    It sees every frame of each local window (the frozen backbone sees only
    the centre ones) and, before each of its blocks, the tokens of one
    frozen layer.

    Args:
        num_segments: ``T``, segments per view.
        num_local_frames: ``n``, consecutive frames per segment (odd). With
            ``n = 1`` the SME-Adapter has nothing to see and is off.
        side_dim: Side width ``D``; must be a multiple of 64 (heads are 64
            wide, :data:`~mmaction_tdsclip.constants.HEAD_WIDTH`) unless
            ``num_heads`` is given.
        alpha: Weight of the appearance stem in the side input.
        beta: Weight of the SME-Adapter (0.5 in the released code).
        use_td: Put TD-Adapters in the blocks (see ``td_layers``).
        use_sme: Add the SME-Adapter to the stem.
        td_mode: ``'pool'``, ``'conv'`` or ``'direct'`` (see :class:`TDAdapter`).
        td_kernel_size: Temporal extent of the TD reference: the max pool's
            kernel (``'pool'``) or the learned depthwise conv's (``'conv'``);
            3, 5 or 7 in the paper's ablation. Unused by ``'direct'``.
        td_reduction: TD bottleneck reduction ``r``.
        td_layers: Frozen-layer indices whose side block gets a TD-Adapter;
            all side blocks when None.
        layer_interval: Attach a side block to every k-th frozen layer only
            (layers k-1, 2k-1, ...); 1 attaches one to every layer.
        num_heads: Side attention heads; ``side_dim // 64`` when None.
        in_channels: Frozen width ``W`` (filled in from the backbone).
        num_layers: Frozen depth ``L`` (filled in from the backbone).
        patch_size: Frozen patch size ``p`` (filled in from the backbone).
        grid_size: Patch grid ``(h, w)`` (filled in from the backbone).
        memory_efficient: Store fewer activations for backward: the side
            connections recompute the normalised CLIP tokens, the blocks run
            in the token layout (see :class:`TDSBlock`), and the stem and
            SME convolutions run as matrix products over patches
            (:func:`~mmaction_tdsclip.models.layers.conv_bn_tokens`). Same
            result up to floating-point reassociation.
        side_precision: ``'bf16'``/``'fp16'`` run the side network under
            autocast (mixed precision; on CPU this is the way to get it, as
            MMEngine's ``AmpOptimWrapper`` is GPU-only). ``'fp32'`` leaves the
            precision to the caller (for example ``AmpOptimWrapper``).
        use_sdpa: Fused attention kernels in the side blocks.
        with_cp: Non-reentrant activation checkpointing of every side block.
        init_cfg: OpenMMLab init config; the released code's init
            (``docs/model.md`` section 6) is applied at build.
    """

    def __init__(
        self,
        num_segments: int = 8,
        num_local_frames: int = 5,
        side_dim: int = 320,
        alpha: float = 1.0,
        beta: float = 0.5,
        use_td: bool = True,
        use_sme: bool = True,
        td_mode: str = 'pool',
        td_kernel_size: int = 3,
        td_reduction: int = 16,
        td_layers: Optional[Sequence[int]] = None,
        layer_interval: int = 1,
        num_heads: Optional[int] = None,
        in_channels: Optional[int] = None,
        num_layers: Optional[int] = None,
        patch_size: Optional[int] = None,
        grid_size: Optional[Tuple[int, int]] = None,
        memory_efficient: bool = True,
        side_precision: str = 'fp32',
        use_sdpa: bool = True,
        with_cp: bool = False,
        init_cfg: Optional[dict] = None,
    ) -> None:
        for name, value in dict(
            in_channels=in_channels,
            num_layers=num_layers,
            patch_size=patch_size,
            grid_size=grid_size,
        ).items():
            if value is None:
                raise ValueError(
                    f'TDSSideNetwork needs {name}; TDSCLIPRecognizer fills it in from the '
                    'backbone, set it yourself when building the neck alone.'
                )
        if num_heads is None and side_dim % HEAD_WIDTH:
            lower = max(HEAD_WIDTH, side_dim // HEAD_WIDTH * HEAD_WIDTH)
            raise ValueError(
                f'side_dim={side_dim} does not split into {HEAD_WIDTH}-wide attention heads; use '
                f'a multiple of {HEAD_WIDTH} (e.g. {lower}) or set num_heads.'
            )
        if layer_interval < 1 or layer_interval > num_layers:
            raise ValueError(f'layer_interval must be in [1, {num_layers}], got {layer_interval}.')
        if side_precision not in PRECISION_DTYPES:
            raise ValueError(
                f'side_precision={side_precision!r} is not one of {tuple(PRECISION_DTYPES)}.'
            )
        super().__init__(
            num_segments,
            num_local_frames,
            side_dim,
            range(layer_interval - 1, num_layers, layer_interval),
            patch_size,
            grid_size,
            init_cfg=init_cfg,
        )
        self.alpha = alpha
        self.beta = beta
        self.with_cp = with_cp
        self.memory_efficient = memory_efficient
        self.side_precision = side_precision
        td_layers = self.side_layers if td_layers is None else list(td_layers)
        bad = sorted(set(td_layers) - set(self.side_layers))
        if bad:
            raise ValueError(
                f'td_layers {bad} have no side block; side blocks sit at layers {self.side_layers}.'
            )

        D, p = side_dim, patch_size
        if p < 3:
            raise ValueError(f'patch_size={p} is too small for the padded (3, p, p) stem.')
        self.stem_conv = nn.Conv3d(3, D, (3, p, p), stride=(1, p, p), padding=(1, 1, 1))
        self.stem_norm = nn.BatchNorm3d(D)
        self.sme = SMEAdapter(D, num_local_frames, p) if use_sme and num_local_frames > 1 else None
        self.projections = nn.ModuleList(
            [SideProjection(in_channels, D, memory_efficient) for _ in self.side_layers]
        )
        self.pos_embed = nn.Parameter(torch.empty(self.grid_size[0] * self.grid_size[1], D))
        nn.init.normal_(self.pos_embed, std=0.01)
        td_cfg = dict(reduction=td_reduction, mode=td_mode, kernel_size=td_kernel_size)
        self.blocks = nn.ModuleList(
            [
                TDSBlock(
                    D,
                    num_segments,
                    self.grid_size,
                    num_heads,
                    td_cfg if use_td and layer in td_layers else None,
                    use_sdpa,
                    memory_efficient,
                )
                for layer in self.side_layers
            ]
        )
        self.post_norm = nn.BatchNorm3d(D)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Side input: ``alpha * stem(centre frames) + beta * SME(windows)``.

        Args:
            frames: ``(B, 3, T*n, H, W)``, segment-major.

        Returns:
            Side tokens ``(B*T, N, D)``.
        """
        windows = self.layout.split(frames)  # (B, C, T, n, H, W)
        centre = windows[:, :, :, self.layout.centre]
        if not self.memory_efficient:
            x = self.alpha * self.stem_norm(self.stem_conv(centre))
            if self.sme is not None:
                x = x + self.beta * self.sme(windows)
            return video_to_tokens(x)
        # Channels-last throughout: the patchifying convolutions as matrix products.
        x = self.alpha * conv_bn_tokens(self.stem_conv, self.stem_norm, centre)
        if self.sme is not None:
            x = x + self.beta * self.sme.forward_tokens(windows)
        return x.flatten(0, 1)

    def _run_block(self, block: TDSBlock, x: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint(
                block,
                x,
                cls,
                self.pos_embed,
                use_reentrant=False,
                context_fn=lambda: (nullcontext(), frozen_batchnorm_stats(block)),
            )
        return block(x, cls, self.pos_embed)

    def forward(self, frames: torch.Tensor, clip_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Run the side network.

        Args:
            frames: Normalised clips ``(B, 3, T*n, H, W)``, segment-major
                (frame ``j`` of segment ``t`` at index ``t*n + j``), checked
                by :meth:`check_input` (the recognizer calls it once per
                forward, before the frozen tower runs).
            clip_features: Frozen tokens of the layers in ``side_layers``,
                each ``(B*T, N+1, W)`` with the class token first.

        Returns:
            Post-normalised side features ``(B, D, T, h, w)``.
        """
        if len(clip_features) != len(self.blocks):
            raise ValueError(
                f'Got {len(clip_features)} frozen layers for {len(self.blocks)} side blocks.'
            )
        if self.side_precision == 'fp32':
            return self._forward(frames, clip_features)
        with torch.autocast(frames.device.type, dtype=PRECISION_DTYPES[self.side_precision]):
            return self._forward(frames, clip_features).float()

    def _forward(self, frames: torch.Tensor, clip_features: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.embed(frames)
        for projection, block, z in zip(self.projections, self.blocks, clip_features):
            z = projection(z)
            x = 0.5 * x + 0.5 * z[:, 1:]
            x = self._run_block(block, x, z[:, :1])
        B = frames.shape[0]
        h, w = self.grid_size
        x = x.reshape(B, self.num_segments, h, w, self.side_dim).permute(0, 4, 1, 2, 3)
        return self.post_norm(x)
