"""The TDS-CLIP recognizer: a frozen CLIP tower, a trainable side network, a head."""

from typing import Dict, List, Sequence, Tuple, Union

import torch
from mmaction.models.recognizers.base import BaseRecognizer
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import ConfigType, OptConfigType, SampleList
from mmengine.config import ConfigDict

from ...weights.strict import StrictLoadMixin
from ..necks.base_side_neck import BACKBONE_GEOMETRY, BaseSideNeck

STAGES = ('backbone', 'neck', 'head')
Features = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


@MODELS.register_module()
class TDSCLIPRecognizer(StrictLoadMixin, BaseRecognizer):
    """Recognizer for side networks over a frozen ViT.

    Input contract: ``inputs`` of shape ``(B, V, 3, T*n, H, W)`` as produced by
    ``FormatShape('NCTHW')`` and the data preprocessor (CLIP mean and std):
    ``V`` views (``FormatShape`` orders them crop-major, then clip; the head
    averages over all of them), each holding ``T`` segments of ``n``
    consecutive frames, segment-major (frame ``j`` of segment ``t`` at index
    ``t*n + j``, see :class:`~mmaction_tdsclip.window_layout.WindowLayout`).
    Only the centre frame of each window goes through the frozen backbone;
    the neck sees every frame.

    The backbone must expose ``embed_dims``, ``num_layers``, ``patch_size``,
    ``grid_size`` and ``forward(images, out_layers) -> list of (M, N+1, W)``
    (see :class:`FrozenTokenBackbone`); the neck must be a
    :class:`BaseSideNeck`, whose backbone geometry arguments
    (``in_channels``, ``num_layers``, ``patch_size``, ``grid_size``) are
    filled in from the backbone.

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
        compile: Compile the frozen backbone's forward and the neck's
            forward and backward with ``torch.compile`` (``True``, or a dict
            of its keyword arguments, e.g. ``dict(mode='max-autotune')``).
            The two compile separately: the backbone as an inference graph,
            the neck with its backward. The first step of each input shape
            pays the compilation (tens of seconds); the results are those of
            the eager model up to floating-point reassociation. Copies of the
            model (``deepcopy``, pickling) run eagerly.
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
        compile: Union[bool, Dict] = False,
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
        geometry = dict(zip(BACKBONE_GEOMETRY, self._backbone_geometry()))
        for key, value in geometry.items():
            given = neck.get(key)
            if given is not None and (tuple(given) if key == 'grid_size' else given) != value:
                raise ValueError(
                    f'model.neck.{key}={given} disagrees with the backbone ({value}); '
                    'leave it out, it is read from the backbone.'
                )
            neck[key] = value
        self.neck = MODELS.build(neck)
        if not isinstance(self.neck, BaseSideNeck):
            raise TypeError(
                f'model.neck is a {type(self.neck).__name__}; TDSCLIPRecognizer needs a side '
                'network neck derived from BaseSideNeck (e.g. TDSSideNetwork).'
            )
        if self.with_cls_head and getattr(self.cls_head, 'in_channels', None) not in (
            None,
            self.neck.side_dim,
        ):
            raise ValueError(
                f'model.cls_head.in_channels={self.cls_head.in_channels} does not match the '
                f'side width model.neck.side_dim={self.neck.side_dim}.'
            )
        if not isinstance(compile, (bool, dict)):
            raise TypeError(
                f'model.compile must be True, False or a dict of torch.compile arguments, got '
                f'{compile!r}.'
            )
        if compile:
            options = {} if compile is True else dict(compile)
            # Module.compile keeps parameter names and is dropped from copies of the module.
            self.backbone.compile(**options)
            self.neck.compile(**options)

    def _backbone_geometry(self) -> tuple:
        b = self.backbone
        return b.embed_dims, b.num_layers, b.patch_size, tuple(b.grid_size)

    def _forward_views(self, frames: torch.Tensor, stage: str) -> Features:
        """One chunk of views ``(M, 3, T*n, H, W)`` up to ``stage``; see :meth:`extract_feat`."""
        self.neck.check_input(frames)
        tokens = self.backbone(self.neck.centre_frames(frames), out_layers=self.neck.side_layers)
        if stage == 'backbone':
            M, T = frames.shape[0], self.neck.num_segments
            return tuple(t.reshape(M, T, *t.shape[1:]) for t in tokens)
        feats = self.neck(frames, tokens)
        return self.cls_head(feats) if stage == 'head' else feats

    def extract_feat(
        self, inputs: torch.Tensor, stage: str = 'neck', test_mode: bool = False
    ) -> Tuple[Features, Dict]:
        """Features of every view, up to ``stage``.

        Args:
            inputs: ``(B, V, 3, T*n, H, W)``.
            stage: ``'backbone'``: the frozen tower's tokens of each layer
                the neck reads (``neck.side_layers``), a tuple of
                ``(B*V, T, N+1, W)`` tensors (class token first, in the
                backbone's precision); ``'neck'``: the side features
                ``(B*V, D, T, h, w)``; ``'head'``: the logits
                ``(B*V, num_classes)``. The model runs only as far as the
                stage needs.
            test_mode: Split the views into chunks of
                ``test_cfg.max_testing_views`` when that is set.

        Returns:
            The features, and an empty dict: MMAction2's recognizers return
            the keyword arguments for the head here, and this one passes
            none.
        """
        if stage not in STAGES:
            raise ValueError(f'stage={stage!r} is not one of {STAGES}.')
        if stage == 'head' and not self.with_cls_head:
            raise ValueError("stage='head' needs a model.cls_head.")
        if inputs.dim() != 6:
            raise ValueError(
                f'TDSCLIPRecognizer expects inputs (B, V, 3, T*n, H, W), got '
                f'{tuple(inputs.shape)}; use FormatShape(input_format="NCTHW").'
            )
        frames = inputs.flatten(0, 1)
        chunk = (self.test_cfg or {}).get('max_testing_views') if test_mode else None
        if not chunk:
            return self._forward_views(frames, stage), {}
        parts = [self._forward_views(part, stage) for part in frames.split(chunk)]
        if stage == 'backbone':
            return tuple(torch.cat(layer) for layer in zip(*parts)), {}
        return torch.cat(parts), {}

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
        feats, _ = self.extract_feat(inputs)
        samples = self.per_view_samples(data_samples, inputs.shape[1])
        return self.cls_head.loss(feats, samples, **kwargs)

    def predict(self, inputs: torch.Tensor, data_samples: SampleList, **kwargs) -> SampleList:
        """Scores averaged over views (``cls_head.average_clips``)."""
        with torch.inference_mode():
            feats, _ = self.extract_feat(inputs, test_mode=True)
            return self.cls_head.predict(feats, data_samples)
