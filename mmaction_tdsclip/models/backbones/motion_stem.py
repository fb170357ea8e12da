"""The SME-Adapter as an extra motion stem of a stock 3D CNN backbone."""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ...window_layout import WindowLayout
from ..adapters import SMEAdapter


class _StopForward(Exception):
    """Ends a probing forward once the stem output has been seen."""


@MODELS.register_module()
class SMEStem(SMEAdapter):
    """The SME-Adapter with a stem's stride: embeds the frame differences inside each local window.

    :class:`SMEAdapter` with kernel ``(3, k, k)``, stride ``(t, s, s)`` and
    padding ``(1, (k-1)//2, (k-1)//2)``. The default ``k = 2s - 1`` gives
    ``ceil(H / s)`` positions, the size most stems produce (TDS-CLIP's own
    SME-Adapter is the ``k = s = p``, padding 1 case).

    Args:
        out_channels: Output width (the stem's).
        num_local_frames: Window size ``n`` (>= 2).
        spatial_stride: ``s``.
        temporal_stride: ``t``.
        kernel_size: Spatial kernel ``k``; ``2s - 1`` when None.
        in_channels: Channels per frame.
        zero_init: BatchNorm weight and bias 0, so the stem adds nothing
            until trained (an option for inserting it into a trained model).
    """

    def __init__(
        self,
        out_channels: int,
        num_local_frames: int = 5,
        spatial_stride: int = 4,
        temporal_stride: int = 1,
        kernel_size: Optional[int] = None,
        in_channels: int = 3,
        zero_init: bool = False,
    ) -> None:
        k = 2 * spatial_stride - 1 if kernel_size is None else kernel_size
        super().__init__(
            out_channels,
            num_local_frames,
            in_channels=in_channels,
            kernel_size=(3, k, k),
            stride=(temporal_stride, spatial_stride, spatial_stride),
            padding=(1, (k - 1) // 2, (k - 1) // 2),
        )
        self.zero_init = zero_init
        self.init_weights()

    def init_weights(self) -> None:
        if self.zero_init:
            nn.init.zeros_(self.bn.weight)
            nn.init.zeros_(self.bn.bias)


@MODELS.register_module()
class MotionStemBackbone(BaseModule):
    """A stock 3D backbone fed with the centre frames, plus ``beta * SME`` added after its stem.

    Input clips hold ``T`` windows of ``n`` consecutive frames, segment-major
    (``SampleTDSFrames`` + ``FormatShape('NCTHW')``). The backbone sees the
    centre frames ``(B, C, T, H, W)``; :class:`SMEStem` embeds the
    differences inside each window, and the sum ``stem + beta * SME`` (as in
    TDS-CLIP's side input) continues through the backbone. The SME width and
    strides are read from the stem output of a probing forward at build
    time, so the config only names the stem module.

    Example (SlowOnly, motion added after its max pool)::

        backbone=dict(
            type='MotionStemBackbone',
            backbone=dict(type='ResNet3dSlowOnly', depth=50, pretrained=None),
            after='maxpool', num_local_frames=5, beta=0.5)

    Args:
        backbone: Config of the 3D backbone (input ``(B, C, T, H, W)``).
        after: Name of the stem submodule whose output receives the motion
            features (``'maxpool'`` or ``'conv1'`` for ResNet3d variants,
            ``'conv1_t'`` for X3D).
        num_local_frames: ``n`` (>= 2).
        beta: Weight of the motion features.
        zero_init: Start the SME at zero output (identity), see
            :class:`SMEStem`.
        kernel_size: Spatial kernel of the SME; see :class:`SMEStem`.
        probe_shape: ``(T, H, W)`` of the probing input.
        init_cfg: OpenMMLab init config of the wrapper.
    """

    def __init__(
        self,
        backbone: Dict,
        after: str = 'maxpool',
        num_local_frames: int = 5,
        beta: float = 0.5,
        zero_init: bool = False,
        kernel_size: Optional[int] = None,
        probe_shape: Sequence[int] = (8, 64, 64),
        init_cfg: Optional[Dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        modules = dict(self.backbone.named_modules())
        if not after or after not in modules:
            raise ValueError(
                f'MotionStemBackbone: {type(self.backbone).__name__} has no submodule {after!r}; '
                f'names look like {[n for n in modules if n][:12]}.'
            )
        self.after = after
        # T is read from each input's length: the stock backbone takes any number of segments.
        self.layout = WindowLayout(None, num_local_frames)
        self.beta = beta
        channels, strides = self._probe_stem(modules[after], tuple(probe_shape))
        self.sme = SMEStem(
            channels,
            num_local_frames,
            spatial_stride=strides[1],
            temporal_stride=strides[0],
            kernel_size=kernel_size,
            zero_init=zero_init,
        )
        self._motion: Optional[torch.Tensor] = None
        modules[after].register_forward_hook(self._add_motion)

    @property
    def num_local_frames(self) -> int:
        return self.layout.num_local_frames

    def _probe_stem(
        self, stem: nn.Module, shape: Tuple[int, int, int]
    ) -> Tuple[int, Tuple[int, int]]:
        """Stem output width and (temporal, spatial) strides, from a forward stopped at the stem."""
        seen = {}

        def stop(module, args, output):
            seen['shape'] = output.shape
            raise _StopForward

        handle = stem.register_forward_hook(stop)
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                self.backbone(torch.zeros(1, 3, *shape))
        except _StopForward:
            pass
        finally:
            handle.remove()
            self.backbone.train(was_training)
        if 'shape' not in seen:
            raise ValueError(
                f'MotionStemBackbone: {self.after!r} was not called in a forward pass.'
            )
        _, channels, t, h, w = seen['shape']
        T, H, W = shape
        if T % t or H % h or W % w or H // h != W // w:
            raise ValueError(
                f'MotionStemBackbone: the stem maps {shape} to {(t, h, w)}, not an integer '
                'stride; choose another probe_shape or stem module.'
            )
        return channels, (T // t, H // h)

    def _add_motion(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if self._motion is None:
            return output
        if output.shape != self._motion.shape:
            raise ValueError(
                f'MotionStemBackbone: SME output {tuple(self._motion.shape)} does not match the '
                f'stem output {tuple(output.shape)} of {self.after!r}; use an input size '
                'divisible by the stem stride.'
            )
        return output + self.beta * self._motion

    def forward(self, x: torch.Tensor):
        """Run the backbone on the centre frames with the motion stem added.

        Args:
            x: ``(B, C, T*n, H, W)``, ``T`` windows of ``n`` frames,
                segment-major.

        Returns:
            Whatever the backbone returns for ``(B, C, T, H, W)``.
        """
        windows = self.layout.split(x)  # (B, C, T, n, H, W)
        self._motion = self.sme(windows)
        try:
            return self.backbone(windows[:, :, :, self.layout.centre])
        finally:
            self._motion = None
