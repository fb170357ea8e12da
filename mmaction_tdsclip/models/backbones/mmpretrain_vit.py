"""A frozen mmpretrain ``VisionTransformer`` exposing per-layer tokens."""

import copy
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from .frozen_token_backbone import FrozenTokenBackbone


def build_mmpretrain_backbone(cfg: Dict) -> nn.Module:
    """Build ``cfg`` from MMAction2's registry, resolving ``'mmpretrain.X'`` types in mmpretrain's scope.

    A plain ``type='mmpretrain.VisionTransformer'`` finds the class, but the
    configs nested inside it (``act_cfg=dict(type='QuickGELU')``) would be
    looked up in MMAction2's scope, which lacks them. Building with
    ``_scope_='mmpretrain'`` resolves the nested types in mmpretrain's scope.
    """
    cfg = copy.deepcopy(dict(cfg))
    kind = cfg.get('type')
    if isinstance(kind, str) and kind.startswith('mmpretrain.'):
        cfg['type'] = kind[len('mmpretrain.') :]
        cfg.setdefault('_scope_', 'mmpretrain')
    return MODELS.build(cfg)


@MODELS.register_module()
class MMPretrainViT(FrozenTokenBackbone):
    """An mmpretrain ``VisionTransformer``, frozen, returning the tokens of every block.

    For a CLIP-style tower build it with ``pre_norm=True``,
    ``final_norm=False``, ``layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))``,
    ``with_cls_token=True`` (``out_type`` is irrelevant: the wrapper never
    calls the backbone's own ``forward``). Width, depth, patch size and patch
    grid are read from the built backbone. The tokens of a block are its
    raw output: a ``final_norm`` is not applied to the last one.

    Args:
        backbone: Config of an mmpretrain ``VisionTransformer`` (or a
            subclass with the same embedding), e.g.
            ``dict(type='mmpretrain.VisionTransformer', arch='b',
            img_size=224, patch_size=16, ...)``.
        pretrained: A local weight file (an mmpretrain classifier checkpoint
            or a backbone state dict), loaded strictly at construction.
            Keys starting with ``pretrained_prefix`` are kept (prefix
            removed) when any key has it.
        pretrained_prefix: Prefix of the backbone's keys in ``pretrained``.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (autocast).
        init_cfg: Unused; the backbone's own ``init_cfg`` (e.g.
            ``Pretrained``) is applied at construction instead.
    """

    def __init__(
        self,
        backbone: Dict,
        pretrained: Optional[str] = None,
        pretrained_prefix: str = 'backbone.',
        precision: str = 'fp32',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(precision=precision, init_cfg=init_cfg)
        from mmpretrain.models.backbones import VisionTransformer

        vit = build_mmpretrain_backbone(backbone)
        if not isinstance(vit, VisionTransformer):
            raise TypeError(
                f'MMPretrainViT wraps mmpretrain VisionTransformer backbones, got '
                f'{type(vit).__name__}.'
            )
        if vit.cls_token is None:
            raise ValueError(
                'MMPretrainViT needs a class token: build the backbone with with_cls_token=True.'
            )
        projection = vit.patch_embed.projection
        if (
            projection.kernel_size != projection.stride
            or projection.kernel_size[0] != projection.kernel_size[1]
        ):
            raise ValueError(
                f'MMPretrainViT needs square, non-overlapping patches; got kernel '
                f'{projection.kernel_size} and stride {projection.stride}.'
            )
        self.vit = vit
        self.embed_dims = vit.embed_dims
        self.num_layers = vit.num_layers
        self.patch_size = projection.kernel_size[0]
        self.grid_size = tuple(vit.patch_resolution)
        # The backbone's own init_cfg (e.g. Pretrained) runs now, not in the
        # runner's init_weights, which a test run never calls.
        vit.init_weights()
        if pretrained is not None:
            self.load_pretrained(pretrained, pretrained_prefix)
        self.freeze()

    def load_pretrained(self, path: str, prefix: str) -> None:
        """Strictly load the backbone's weights from a local file."""
        from ...weights.clip import load_mmpretrain_vit_weights

        load_mmpretrain_vit_weights(self.vit, path, prefix)
        self.weights_loaded_from = path

    @property
    def blocks(self) -> Sequence[nn.Module]:
        return self.vit.layers

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patchify, prepend the class token, add positions, ``pre_norm``: ``(M, 3, H, W) -> (M, N+1, W)``."""
        from mmpretrain.models.utils import resize_pos_embed

        vit = self.vit
        x, patch_resolution = vit.patch_embed(images)
        x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + resize_pos_embed(
            vit.pos_embed,
            vit.patch_resolution,
            patch_resolution,
            mode=vit.interpolate_mode,
            num_extra_tokens=vit.num_extra_tokens,
        )
        return vit.pre_norm(vit.drop_after_pos(x))
