"""The frozen CLIP visual tower that feeds TDS-CLIP's side network.

The module mirrors OpenAI's ``VisionTransformer`` parameter layout (``conv1``,
``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks.{i}.{attn,ln_1,mlp,ln_2}``) so that OpenAI and
open_clip weights load by name. ``ln_post`` and ``proj`` are not built: the
side network consumes every block's tokens, never the pooled embedding.
"""

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from ...weights.clip import load_clip_visual_weights, load_open_clip_by_name
from ..layers import PackedMultiheadAttention
from .frozen_token_backbone import FrozenTokenBackbone

ARCH_PRESETS: Dict[str, Dict[str, int]] = {
    'ViT-B/32': dict(embed_dims=768, num_layers=12, num_heads=12, patch_size=32, img_size=224),
    'ViT-B/16': dict(embed_dims=768, num_layers=12, num_heads=12, patch_size=16, img_size=224),
    'ViT-L/14': dict(embed_dims=1024, num_layers=24, num_heads=16, patch_size=14, img_size=224),
    'ViT-L/14-336': dict(embed_dims=1024, num_layers=24, num_heads=16, patch_size=14, img_size=336),
}


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that OpenAI CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x * torch.sigmoid(1.702 * x)
        # The frozen tower: the same values with one temporary instead of three (a fresh
        # CPU allocation costs more than the arithmetic at these sizes).
        return (1.702 * x).sigmoid_().mul_(x)


ACTIVATIONS = {'quick_gelu': QuickGELU, 'gelu': nn.GELU}


class CLIPMLP(nn.Module):
    """``c_fc -> activation -> c_proj`` with OpenAI's names."""

    def __init__(
        self, embed_dims: int, act_layer: str = 'quick_gelu', mlp_ratio: float = 4.0
    ) -> None:
        super().__init__()
        if act_layer not in ACTIVATIONS:
            raise ValueError(f'act_layer={act_layer!r} is not one of {sorted(ACTIVATIONS)}.')
        hidden = int(embed_dims * mlp_ratio)
        self.c_fc = nn.Linear(embed_dims, hidden)
        self.gelu = ACTIVATIONS[act_layer]()
        self.c_proj = nn.Linear(hidden, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """A pre-LN transformer block of the CLIP visual tower.

    Args:
        embed_dims: Token width ``W``.
        num_heads: Attention heads.
        use_sdpa: See :class:`PackedMultiheadAttention`.
        act_layer: ``'quick_gelu'`` (OpenAI CLIP) or ``'gelu'`` (open_clip
            models trained without QuickGELU).
    """

    def __init__(
        self, embed_dims: int, num_heads: int, use_sdpa: bool = True, act_layer: str = 'quick_gelu'
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(embed_dims)
        self.attn = PackedMultiheadAttention(embed_dims, num_heads, use_sdpa)
        self.ln_2 = nn.LayerNorm(embed_dims)
        self.mlp = CLIPMLP(embed_dims, act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N+1, W) -> (B, N+1, W)``."""
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CLIPTransformer(nn.Module):
    """Holds ``resblocks`` so parameter names match OpenAI's ``transformer.resblocks.{i}``."""

    def __init__(
        self,
        embed_dims: int,
        num_layers: int,
        num_heads: int,
        use_sdpa: bool = True,
        act_layer: str = 'quick_gelu',
    ) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(
            [
                ResidualAttentionBlock(embed_dims, num_heads, use_sdpa, act_layer)
                for _ in range(num_layers)
            ]
        )


def resolve_arch(arch: Union[str, Dict]) -> Dict[str, int]:
    """Return the full architecture dict of a preset name or a custom dict."""
    if isinstance(arch, str):
        if arch not in ARCH_PRESETS:
            raise ValueError(
                f'Unknown FrozenCLIPViT arch {arch!r}. Choose one of '
                f'{sorted(ARCH_PRESETS)} or pass a dict with embed_dims, '
                'num_layers, num_heads and patch_size.'
            )
        return dict(ARCH_PRESETS[arch])
    required = {'embed_dims', 'num_layers', 'num_heads', 'patch_size'}
    missing = required - set(arch)
    if missing:
        raise ValueError(
            f'FrozenCLIPViT arch dict is missing {sorted(missing)}; it needs {sorted(required)}.'
        )
    unknown = set(arch) - required - {'img_size'}
    if unknown:
        raise ValueError(f'FrozenCLIPViT arch dict has unknown keys {sorted(unknown)}.')
    return dict(arch)


@MODELS.register_module()
class FrozenCLIPViT(FrozenTokenBackbone):
    """CLIP's visual tower, frozen, returning the tokens of every block.

    No gradient ever enters this module: its parameters have
    ``requires_grad=False``, :meth:`forward` runs without autograd, and
    :meth:`train` keeps it in eval mode whatever the runner asks.

    Args:
        arch: A preset name (``'ViT-B/16'``, ``'ViT-B/32'``, ``'ViT-L/14'``,
            ``'ViT-L/14-336'``) or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads``, ``patch_size`` (and optionally ``img_size``).
        img_size: Input resolution; must be divisible by the patch size.
            Defaults to the preset's (224, or 336 for ``ViT-L/14-336``).
        pretrained: A local weight file: OpenAI's TorchScript ``.pt``, an
            open_clip checkpoint (``.bin``, ``.pt``, ``.safetensors``), an
            mmpretrain CLIP ViT checkpoint, or a plain state dict. Loaded
            strictly at construction. None leaves the random init.
        open_clip_model: Alternatively, an open_clip model name (for example
            ``'ViT-B-16'``) whose visual weights are used.
        open_clip_pretrained: The open_clip pretrained tag (for example
            ``'openai'``); open_clip downloads it if it is not cached.
        precision: ``'bf16'``/``'fp16'`` run the tower under autocast and
            return tokens in that dtype; ``'fp32'`` adds no autocast of its
            own and returns float32 tokens (see
            :class:`FrozenTokenBackbone`).
        use_sdpa: Use fused scaled-dot-product attention.
        act_layer: MLP activation: ``'quick_gelu'`` for OpenAI CLIP weights,
            ``'gelu'`` for open_clip models trained with plain GELU.
        init_cfg: Unused: the tower is loaded eagerly from ``pretrained`` so
            that a test run can never evaluate with random CLIP weights.
    """

    def __init__(
        self,
        arch: Union[str, Dict] = 'ViT-B/16',
        img_size: Optional[int] = None,
        pretrained: Optional[str] = None,
        open_clip_model: Optional[str] = None,
        open_clip_pretrained: Optional[str] = None,
        precision: str = 'fp32',
        use_sdpa: bool = True,
        act_layer: str = 'quick_gelu',
        init_cfg: Optional[Dict] = None,
    ) -> None:
        super().__init__(precision=precision, init_cfg=init_cfg)
        cfg = resolve_arch(arch)
        self.arch_name = arch if isinstance(arch, str) else 'custom'
        self.embed_dims = cfg['embed_dims']
        self.num_layers = cfg['num_layers']
        self.num_heads = cfg['num_heads']
        self.patch_size = cfg['patch_size']
        self.img_size = img_size or cfg.get('img_size', 224)
        if self.img_size % self.patch_size:
            raise ValueError(
                f'img_size={self.img_size} is not divisible by the patch size '
                f'{self.patch_size} of arch {self.arch_name!r}; use a multiple of '
                f'{self.patch_size} (e.g. {self.img_size // self.patch_size * self.patch_size}).'
            )
        grid = self.img_size // self.patch_size
        self.grid_size: Tuple[int, int] = (grid, grid)

        W = self.embed_dims
        self.conv1 = nn.Conv2d(
            3, W, kernel_size=self.patch_size, stride=self.patch_size, bias=False
        )
        self.class_embedding = nn.Parameter(W**-0.5 * torch.randn(W))
        self.positional_embedding = nn.Parameter(W**-0.5 * torch.randn(grid * grid + 1, W))
        self.ln_pre = nn.LayerNorm(W)
        self.transformer = CLIPTransformer(W, self.num_layers, self.num_heads, use_sdpa, act_layer)

        if pretrained is not None and open_clip_model is not None:
            raise ValueError('Give either pretrained (a local file) or open_clip_model, not both.')
        if pretrained is not None:
            load_clip_visual_weights(self, pretrained)
        elif open_clip_model is not None:
            load_open_clip_by_name(self, open_clip_model, open_clip_pretrained)
        self.freeze()

    @property
    def use_sdpa(self) -> bool:
        return self.transformer.resblocks[0].attn.use_sdpa

    @use_sdpa.setter
    def use_sdpa(self, value: bool) -> None:
        for block in self.transformer.resblocks:
            block.attn.use_sdpa = value

    @property
    def blocks(self) -> Sequence[nn.Module]:
        return self.transformer.resblocks

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patchify, prepend the class token, add positions, ``ln_pre``.

        Args:
            x: Images ``(B, 3, H, W)``, CLIP-normalised.

        Returns:
            Tokens ``(B, N+1, W)``.
        """
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)
