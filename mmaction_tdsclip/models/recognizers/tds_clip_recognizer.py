"""The TDS-CLIP recognizer: a frozen CLIP tower, a trainable side network, a head."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.models.recognizers.base import BaseRecognizer
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import ConfigType, OptConfigType, SampleList
from mmengine.config import ConfigDict

from ...weights.strict import StrictLoadMixin

BACKBONE_GEOMETRY = ('in_channels', 'num_layers', 'patch_size', 'grid_size')


@MODELS.register_module()
class TDSCLIPRecognizer(StrictLoadMixin, BaseRecognizer):
    """Recognizer for side networks over a frozen ViT.

    Input contract: ``inputs`` of shape ``(B, V, 3, T*n, H, W)`` as produced by
    ``FormatShape('NCTHW')`` and the data preprocessor (CLIP mean and std):
    ``V`` views (``FormatShape`` orders them crop-major, then clip; the head
    averages over all of them), each holding ``T`` segments of ``n``
    consecutive frames, segment-major (frame ``j`` of segment ``t`` at index
    ``t*n + j``). Only the centre frame of each window goes through the
    frozen backbone; the neck sees every frame.

    The backbone must expose ``embed_dims``, ``num_layers``, ``patch_size``,
    ``grid_size`` and ``forward(images, out_layers) -> list of (M, N+1, W)``
    (see :class:`FrozenCLIPViT`); the neck must expose ``num_frames``,
    ``num_local_frames``, ``side_layers`` and ``forward(frames, features)``.
    The neck's geometry arguments are filled in from the backbone.

    With repeated augmentation a sample holds ``V`` training views; each is
    a sample of its own for the loss, with the label of ``gt_label`` (one per
    view, or one shared).

    Args:
        backbone: Frozen backbone config.
        neck: Side network config (its backbone geometry may be omitted).
        cls_head: Head config.
        train_cfg: Unused, kept for MMAction2 compatibility.
        test_cfg: ``max_testing_views`` caps how many views go through the
            model at once in testing.
        data_preprocessor: Normalisation config.
        checkpoint_skip_prefixes: Key prefixes (e.g. ``['cls_head.']``) under
            which a loaded checkpoint may differ from the model, to fine-tune
            from a checkpoint with another head; those keys keep their
            initialisation, with a warning. Every other load is strict
            (:mod:`mmaction_tdsclip.weights.strict`).
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: ConfigType,
        cls_head: OptConfigType = None,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        checkpoint_skip_prefixes: Sequence[str] = (),
    ) -> None:
        super().__init__(
            backbone=backbone,
            cls_head=cls_head,
            neck=None,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
        )
        self.checkpoint_skip_prefixes = tuple(checkpoint_skip_prefixes)
        neck = ConfigDict(neck)
        geometry = dict(
            in_channels=self.backbone.embed_dims,
            num_layers=self.backbone.num_layers,
            patch_size=self.backbone.patch_size,
            grid_size=tuple(self.backbone.grid_size),
        )
        for key, value in geometry.items():
            given = neck.get(key)
            if given is not None and (tuple(given) if key == 'grid_size' else given) != value:
                raise ValueError(
                    f'model.neck.{key}={given} disagrees with the backbone ({value}); '
                    'leave it out, it is read from the backbone.'
                )
            neck[key] = value
        self.neck = MODELS.build(neck)
        if self.with_cls_head and getattr(self.cls_head, 'in_channels', None) not in (
            None,
            self.neck.side_dim,
        ):
            raise ValueError(
                f'model.cls_head.in_channels={self.cls_head.in_channels} does not match the '
                f'side width model.neck.side_dim={self.neck.side_dim}.'
            )

    @property
    def frames_per_view(self) -> int:
        return self.neck.num_frames * self.neck.num_local_frames

    def centre_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``(M, 3, T*n, H, W) -> (M*T, 3, H, W)``: the frame each window is centred on."""
        M, C, _, H, W = frames.shape
        T, n = self.neck.num_frames, self.neck.num_local_frames
        centre = frames.reshape(M, C, T, n, H, W)[:, :, :, n // 2]
        return centre.transpose(1, 2).reshape(M * T, C, H, W)

    def _forward_views(self, frames: torch.Tensor) -> torch.Tensor:
        self.neck.check_input(frames)
        features = self.backbone(self.centre_frames(frames), out_layers=self.neck.side_layers)
        return self.neck(frames, features)

    def extract_feat(
        self,
        inputs: torch.Tensor,
        stage: str = 'neck',
        data_samples: Optional[SampleList] = None,
        test_mode: bool = False,
    ) -> Tuple[torch.Tensor, Dict]:
        """Features of every view.

        Args:
            inputs: ``(B, V, 3, T*n, H, W)``.

        Returns:
            ``(B*V, D, T, h, w)`` features (logits when ``stage='head'``) and
            the kwargs for the head.
        """
        if inputs.dim() != 6:
            raise ValueError(
                f'TDSCLIPRecognizer expects inputs (B, V, 3, T*n, H, W), got '
                f'{tuple(inputs.shape)}; use FormatShape(input_format="NCTHW").'
            )
        frames = inputs.flatten(0, 1)
        chunk = (self.test_cfg or {}).get('max_testing_views') if test_mode else None
        if chunk:
            feats = torch.cat([self._forward_views(part) for part in frames.split(chunk)])
        else:
            feats = self._forward_views(frames)
        kwargs: Dict = {} if test_mode else dict(loss_aux={})
        if stage == 'head' and self.with_cls_head:
            feats = self.cls_head(feats)
        return feats, kwargs

    @staticmethod
    def per_view_samples(data_samples: SampleList, num_views: int) -> SampleList:
        """One data sample per view, carrying that view's label."""
        if num_views == 1:
            return data_samples
        samples: List[ActionDataSample] = []
        for sample in data_samples:
            labels = sample.gt_label.reshape(-1)
            if labels.numel() == 1:
                labels = labels.expand(num_views)
            elif labels.numel() != num_views:
                raise ValueError(
                    f'A sample with {num_views} views carries {labels.numel()} labels; '
                    'give one label, or one per view.'
                )
            for label in labels:
                view = ActionDataSample()
                view.set_gt_label(label.reshape(1))
                samples.append(view)
        return samples

    def loss(self, inputs: torch.Tensor, data_samples: SampleList, **kwargs) -> Dict:
        """Classification loss over every view; see the class docstring."""
        feats, loss_kwargs = self.extract_feat(inputs, data_samples=data_samples)
        samples = self.per_view_samples(data_samples, inputs.shape[1])
        losses = dict(loss_kwargs.get('loss_aux', {}))
        losses.update(self.cls_head.loss(feats, samples, **kwargs))
        return losses

    def predict(self, inputs: torch.Tensor, data_samples: SampleList, **kwargs) -> SampleList:
        """Scores averaged over views (``cls_head.average_clips``)."""
        with torch.inference_mode():
            feats, predict_kwargs = self.extract_feat(inputs, test_mode=True)
            return self.cls_head.predict(feats, data_samples, **predict_kwargs)
