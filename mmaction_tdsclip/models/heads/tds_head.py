"""Classification head of TDS-CLIP (``docs/model.md`` section 5)."""

from typing import Dict, Optional

import torch
import torch.nn as nn
from mmaction.models.heads.base import BaseHead
from mmaction.registry import MODELS


@MODELS.register_module()
class TDSHead(BaseHead):
    """Mean over ``T*h*w``, dropout, Linear.

    The normalisation before pooling lives in the neck (``post_norm``). The
    classifier keeps PyTorch's default initialisation, as released.

    Args:
        num_classes: Number of classes.
        in_channels: Side width ``D``.
        dropout_ratio: Dropout before the classifier (0 in the paper).
        loss_cls: Loss config.
        kwargs: ``label_smooth_eps``, ``average_clips``, ``topk``... of
            :class:`mmaction.models.heads.BaseHead`.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        dropout_ratio: float = 0.0,
        loss_cls: Dict = dict(type='CrossEntropyLoss'),
        init_cfg: Optional[Dict] = None,
        **kwargs,
    ) -> None:
        super().__init__(num_classes, in_channels, loss_cls, init_cfg=init_cfg, **kwargs)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        """Keep PyTorch's default Linear init (BaseHead would not touch it either)."""

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """``(B, D, T, h, w)`` or ``(B, D)`` -> logits ``(B, num_classes)``."""
        if x.dim() > 2:
            x = x.flatten(2).mean(dim=2)
        return self.fc_cls(self.dropout(x))
