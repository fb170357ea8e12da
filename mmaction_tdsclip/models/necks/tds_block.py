"""One block of the TDS side network (``docs/model.md`` section 4)."""

from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

from ...constants import HEAD_WIDTH
from ..adapters import TDAdapter
from ..layers import PackedMultiheadAttention, batch_norm_last_dim, batch_norm_mlp


def tokens_to_video(x: torch.Tensor, num_segments: int, grid_size: Tuple[int, int]) -> torch.Tensor:
    """``(B*T, h*w, D) -> (B, D, T, h, w)``."""
    BT, N, D = x.shape
    h, w = grid_size
    return x.reshape(BT // num_segments, num_segments, h, w, D).permute(0, 4, 1, 2, 3)


def video_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, D, T, h, w) -> (B*T, h*w, D)``."""
    B, D, T, h, w = x.shape
    return x.permute(0, 2, 3, 4, 1).reshape(B * T, h * w, D)


def shift_class_tokens(cls: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Shift class tokens across time: half the channels from ``t+1``, half from ``t-1``.

    Args:
        cls: ``(B*T, 1, D)``.

    Returns:
        ``(B*T, 1, D)``: channels ``[0, D/2)`` of frame ``t`` hold frame
        ``t+1``'s, channels ``[D/2, D)`` frame ``t-1``'s; zeros where that
        neighbour does not exist.
    """
    BT, _, D = cls.shape
    c = cls.reshape(BT // num_segments, num_segments, D)
    half = D // 2
    zero = c.new_zeros(c.shape[0], 1, D)
    from_next = torch.cat([c[:, 1:, :half], zero[..., :half]], dim=1)
    from_prev = torch.cat([zero[..., half:], c[:, :-1, half:]], dim=1)
    return torch.cat([from_next, from_prev], dim=2).reshape(BT, 1, D)


@contextmanager
def frozen_batchnorm_stats(module: nn.Module) -> Iterator[None]:
    """Recompute a checkpointed segment without updating BatchNorm running stats twice."""
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


class SideMLP(nn.Module):
    """``fc1 -> GELU (exact) -> fc2``."""

    def __init__(self, embed_dims: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, embed_dims * mlp_ratio)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(embed_dims * mlp_ratio, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


@MODELS.register_module()
class TDSBlock(nn.Module):
    """Temporal branch (+ TD-Adapter), shifted-cls attention and MLP.

    Args:
        embed_dims: Side width ``D``.
        num_segments: ``T``.
        grid_size: Patch grid ``(h, w)``.
        num_heads: Attention heads; ``D // 64`` when None.
        td_adapter: Config of the :class:`TDAdapter` (``reduction``, ``mode``,
            ``kernel_size``), or None for a block without one.
        use_sdpa: Fused attention kernels.
        memory_efficient: Compute in the token layout (BatchNorms on the
            channel-last view, 1x1x1 convs as matrix products, the depthwise
            temporal conv as shifted sums), project q, k, v in one product,
            and recompute in backward the normalised tokens of ``ln_1`` and
            ``bn_2``, the MLP's hidden layer and the TD gate. Same result as
            the plain path (up to floating-point reassociation), which
            follows the released code's layout.
    """

    def __init__(
        self,
        embed_dims: int,
        num_segments: int,
        grid_size: Tuple[int, int],
        num_heads: Optional[int] = None,
        td_adapter: Optional[Dict] = None,
        use_sdpa: bool = True,
        memory_efficient: bool = True,
    ) -> None:
        super().__init__()
        D = embed_dims
        self.num_segments = num_segments
        self.grid_size = tuple(grid_size)
        self.bn_1 = nn.BatchNorm3d(D)
        self.conv = nn.Sequential(
            nn.Conv3d(D, D, 1),
            nn.Conv3d(D, D, (3, 1, 1), padding=(1, 0, 0), groups=D),
            nn.Conv3d(D, D, 1),
        )
        self.td_adapter = TDAdapter(D, **td_adapter) if td_adapter is not None else None
        self.ln_1 = nn.LayerNorm(D)
        self.attn = PackedMultiheadAttention(D, num_heads or D // HEAD_WIDTH, use_sdpa)
        self.bn_2 = nn.BatchNorm3d(D)
        self.mlp = SideMLP(D)
        self.memory_efficient = memory_efficient
        self._init_weights()

    def _init_weights(self) -> None:
        """The released init (``docs/model.md`` section 6).

        Normal weights for the attention and MLP projections, zero attention
        biases. The MLP biases keep ``nn.Linear``'s default uniform init: the
        released init touches the MLP weights only.
        """
        D = self.bn_1.num_features
        proj_std = D**-0.5 * 24**-0.5  # 24 = 2 x 12 for every backbone depth, as released
        nn.init.normal_(self.attn.in_proj_weight, std=D**-0.5)
        nn.init.normal_(self.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(self.mlp.fc1.weight, std=(2 * D) ** -0.5)
        nn.init.normal_(self.mlp.fc2.weight, std=proj_std)
        nn.init.zeros_(self.attn.in_proj_bias)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Update the side tokens.

        Args:
            x: Side tokens ``(B*T, N, D)``.
            cls: This layer's projected CLIP class tokens ``(B*T, 1, D)``.
            pos: The shared spatial position embedding ``(N, D)``.

        Returns:
            ``(B*T, N, D)``.
        """
        if self.memory_efficient:
            return self._forward_lean(x, cls, pos)
        T, grid = self.num_segments, self.grid_size
        t = self.conv(self.bn_1(tokens_to_video(x, T, grid)))
        if self.td_adapter is not None:
            t = self.td_adapter(t)
        x = x + video_to_tokens(t)

        u = self.ln_1(torch.cat([shift_class_tokens(cls, T), x + pos], dim=1))
        x = x + self.attn(u[:, 1:], u)

        h = video_to_tokens(self.bn_2(tokens_to_video(x, T, grid)))
        return x + self.mlp(h)

    def _temporal_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``conv(bn_1(x))`` (+ TD-Adapter) on tokens ``(B*T, N, D) -> (B, T, N, D)``."""
        BT, N, D = x.shape
        conv0, dwconv, conv2 = self.conv
        h = F.linear(batch_norm_last_dim(self.bn_1, x), conv0.weight.reshape(D, D), conv0.bias)
        T = self.num_segments
        h = F.pad(h.reshape(BT // T, T, N, D), (0, 0, 0, 0, 1, 1))
        w = dwconv.weight.reshape(D, 3)
        h = h[:, :-2] * w[:, 0] + h[:, 1:-1] * w[:, 1] + h[:, 2:] * w[:, 2] + dwconv.bias
        t = F.linear(h, conv2.weight.reshape(D, D), conv2.bias)
        return self.td_adapter.forward_tokens(t) if self.td_adapter is not None else t

    def _forward_lean(self, x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        N = x.shape[1]
        x = x + self._temporal_tokens(x).reshape(x.shape)
        # pos in the tokens' dtype: a float32 sum would make ln_1 keep a float32 copy.
        u = torch.cat([shift_class_tokens(cls, self.num_segments), x + pos.to(x.dtype)], dim=1)
        x = x + self.attn.forward_suffix_queries(u, N, norm=self.ln_1)
        return x + batch_norm_mlp(self.bn_2, self.mlp.fc1, self.mlp.fc2, x)
