"""Draw test predictions on one view of each video (``tools/test.py --show-dir``)."""

from typing import Sequence

import torch
from mmaction.engine.hooks import VisualizationHook
from mmaction.registry import HOOKS
from mmaction.structures import ActionDataSample
from mmengine.structures import LabelData


def with_drawable_labels(sample: ActionDataSample, topk: int) -> ActionDataSample:
    """A copy of ``sample`` carrying the fields ``ActionVisualizer`` draws.

    MMAction2 1.2's ``ActionVisualizer.add_datasample`` looks for
    ``gt_labels`` and ``pred_labels`` (``item``: class indices, ``score``:
    scores indexed by class), while its data samples hold ``gt_label`` and
    ``pred_score``; without these fields nothing but the frame number is
    drawn. ``pred_labels.item`` lists the ``topk`` best classes, best first.
    """
    sample = sample.clone()
    if 'gt_label' in sample:
        sample.gt_labels = sample.gt_label
    if 'pred_score' in sample:
        score = sample.pred_score.detach().float().cpu()
        best = torch.argsort(score, descending=True)[: min(topk, score.numel())]
        sample.pred_labels = LabelData(item=best, score=score)
    return sample


@HOOKS.register_module()
class SingleViewVisualizationHook(VisualizationHook):
    """MMAction2's ``VisualizationHook`` for multi-view tests: draws one view.

    A test pipeline with several clips or crops packs each video as
    ``(V, C, T, H, W)`` (format ``NCTHW``), which the stock hook cannot
    turn into frames (it permutes a 4-D clip). This hook draws view
    ``view`` of each video, with the ground truth and the ``topk`` best
    classes and their scores (which the stock hook and ``ActionVisualizer``
    of MMAction2 1.2 leave out, see :func:`with_drawable_labels`);
    single-view inputs ``(C, T, H, W)`` are drawn as they are.
    ``tools/test.py --show-dir DIR`` (and MMAction2's own ``test.py``) enable
    it and set ``out_dir``, ``interval``, ``show`` and ``wait_time``.

    Args:
        view: Index of the view to draw, in the pipeline's order
            (``SampleFrames`` clips, each with its crops: with 2 clips x
            ``ThreeCrop``, view 1 is the first clip's second crop).
        topk: Number of best classes drawn with their scores.
        **kwargs: ``VisualizationHook``'s arguments (``enable``,
            ``interval``, ``show``, ``out_dir``, and keyword arguments of
            ``ActionVisualizer.add_datasample`` such as ``wait_time``, ``fps``
            or ``out_type``).
    """

    def __init__(self, view: int = 0, topk: int = 5, **kwargs) -> None:
        super().__init__(**kwargs)
        # MMAction2 1.2's hook passes show=..., which its ActionVisualizer
        # does not take: the visualizer's name for it is show_frames.
        self.draw_args['show_frames'] = self.draw_args.pop('show')
        self.view = view
        self.topk = topk

    def _one_view(self, video: torch.Tensor) -> torch.Tensor:
        if video.dim() == 4:
            return video
        if video.dim() != 5:
            raise ValueError(
                f'SingleViewVisualizationHook draws inputs (V, C, T, H, W) or (C, T, H, W) '
                f'(FormatShape NCTHW), got {tuple(video.shape)}.'
            )
        if not -video.shape[0] <= self.view < video.shape[0]:
            raise IndexError(
                f'default_hooks.visualization.view={self.view}, but the test pipeline '
                f'makes {video.shape[0]} views per video.'
            )
        return video[self.view]

    def _draw_samples(
        self,
        batch_idx: int,
        data_batch: dict,
        data_samples: Sequence[ActionDataSample],
        step: int = 0,
    ) -> None:
        if self.enable is False:
            return
        videos = [self._one_view(video) for video in data_batch['inputs']]
        samples = [with_drawable_labels(s, self.topk) for s in data_samples]
        super()._draw_samples(batch_idx, dict(data_batch, inputs=videos), samples, step)
