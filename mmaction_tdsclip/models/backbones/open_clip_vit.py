"""A frozen open_clip ViT (visual tower) exposing per-layer tokens."""

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmaction.registry import MODELS

from .frozen_token_backbone import FrozenTokenBackbone


@MODELS.register_module()
class OpenCLIPViT(FrozenTokenBackbone):
    """The visual tower of an open_clip model, frozen, returning the tokens of every block.

    The model is built with ``open_clip.create_model(model_name,
    pretrained=...)`` (or ``open_clip.model.CLIP(**model_cfg)``); only its
    ``visual`` tower is kept. Width, depth, patch size and patch grid are
    read from the tower, so a neck built by :class:`TDSCLIPRecognizer` never
    repeats them.

    Args:
        model_name: An open_clip model name (``'ViT-B-16'``, ``'ViT-L-14'``,
            or one added with ``open_clip.add_model_config``).
        pretrained: An open_clip pretrained tag (``'openai'``,
            ``'laion2b_s34b_b88k'``...; downloaded unless cached) or a local
            checkpoint path. None keeps the random init.
        model_cfg: Instead of ``model_name``, a full open_clip model config
            (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...) given to
            ``open_clip.model.CLIP``; random init.
        img_size: Input resolution, when it differs from the model's
            (``force_image_size``; open_clip resizes pretrained positions).
        force_quick_gelu: Use QuickGELU (needed by OpenAI weights under a
            model name that does not imply it).
        cache_dir: open_clip's download cache.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (autocast).
        init_cfg: Unused; weights are set at construction.
    """

    def __init__(
        self,
        model_name: Optional[str] = 'ViT-B-16',
        pretrained: Optional[str] = None,
        model_cfg: Optional[Dict] = None,
        img_size: Optional[int] = None,
        force_quick_gelu: bool = False,
        cache_dir: Optional[str] = None,
        precision: str = 'fp32',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(precision=precision, init_cfg=init_cfg)
        import open_clip
        from open_clip.transformer import VisionTransformer

        if model_cfg is not None:
            if pretrained is not None or img_size is not None:
                raise ValueError(
                    'With model_cfg, set the image size in model_cfg["vision_cfg"] and load '
                    'weights through model_name/pretrained instead.'
                )
            model_cfg = dict(model_cfg)
            quick_gelu = model_cfg.pop('quick_gelu', False) or force_quick_gelu
            model = open_clip.model.CLIP(**model_cfg, quick_gelu=quick_gelu)
            self.model_name = 'custom'
        elif model_name is not None:
            model = open_clip.create_model(
                model_name,
                pretrained=pretrained,
                force_quick_gelu=force_quick_gelu,
                force_image_size=img_size,
                cache_dir=cache_dir,
            )
            self.model_name = model_name
        else:
            raise ValueError(
                'OpenCLIPViT needs model_name (optionally with pretrained) or model_cfg.'
            )
        visual = model.visual
        if not isinstance(visual, VisionTransformer):
            raise TypeError(
                f'open_clip model {self.model_name!r} has a {type(visual).__name__} visual '
                'tower; OpenCLIPViT supports open_clip VisionTransformer towers only.'
            )
        if visual.patch_size[0] != visual.patch_size[1]:
            raise ValueError(f'Non-square patches {visual.patch_size} are not supported.')
        # Keep the visual tower only: the text tower is never used.
        self.visual = visual
        del model
        self.embed_dims = visual.transformer.width
        self.num_layers = visual.transformer.layers
        self.patch_size = visual.patch_size[0]
        self.grid_size = tuple(visual.grid_size)
        self._batch_first = getattr(visual.transformer, 'batch_first', True)
        self.freeze()

    @property
    def blocks(self) -> Sequence[nn.Module]:
        return self.visual.transformer.resblocks

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patchify, prepend the class token, add positions, ``ln_pre``: ``(M, 3, H, W) -> (M, N+1, W)``.

        ``patch_dropout`` is skipped: it is the identity in eval mode, which
        the frozen tower never leaves.
        """
        v = self.visual
        x = v.conv1(images).flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        return v.ln_pre(x)

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self._batch_first:
            return block(x)
        return block(x.transpose(0, 1)).transpose(0, 1)
