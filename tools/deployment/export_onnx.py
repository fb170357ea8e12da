"""Export a recognizer to ONNX: preprocessed clips in, logits out.

Usage:
    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--shape FRAMES HEIGHT WIDTH] [--opset 17] [--verify] [--cfg-options k=v ...]

The graph is the model of ``forward(inputs, mode='tensor', stage='head')``
on clips that have been through the config's test pipeline and
``data_preprocessor`` (mean/std normalised):

    input  ``clips``:  float32 ``(N, 3, FRAMES, HEIGHT, WIDTH)``, N views
                       (dynamic: clips x crops of one video, or of several);
    output ``logits``: float32 ``(N, num_classes)``, one row per view.

Average the views' softmax (``average_clips='prob'``) or logits yourself,
as ``cls_head.average_clips`` does in MMAction2. FRAMES, HEIGHT and WIDTH
default to the model's ``T*n`` and the backbone's ``img_size``. The
checkpoint is loaded strictly (every weight of the model, the frozen CLIP
tower included) with ``weights_only`` protection. ``--verify`` runs the
exported file in onnxruntime on random clips and compares its logits with
PyTorch's.

Needs ``pip install -e .[onnx]`` (onnx, onnxruntime). Uses torch's
TorchScript-based exporter (``dynamo=False``), which needs no onnxscript.
"""

import argparse
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import DictAction

import mmaction_tdsclip  # noqa: F401  (start-up hook, compat shims, registration)
from mmaction_tdsclip.apis import init_tdsclip_recognizer

INPUT_NAME, OUTPUT_NAME = 'clips', 'logits'


class ClipsToLogits(nn.Module):
    """``(N, 3, T*n, H, W)`` normalised clips -> ``(N, num_classes)`` logits,
    through the recognizer's ``'tensor'`` mode up to the head."""

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        # The recognizer takes (B, V, 3, T*n, H, W): here B = N, V = 1.
        return self.recognizer(clips.unsqueeze(1), mode='tensor', stage='head')


def clip_shape(model: nn.Module, shape: Optional[Sequence[int]]) -> Tuple[int, int, int]:
    """``(frames, height, width)`` of one view: ``shape`` or the model's own."""
    if shape:
        if len(shape) != 3:
            raise SystemExit(f'--shape takes FRAMES HEIGHT WIDTH, got {list(shape)}')
        return tuple(shape)
    layout = getattr(getattr(model, 'neck', None), 'layout', None)
    frames = layout.frames_per_view if layout is not None else None
    size = getattr(getattr(model, 'backbone', None), 'img_size', None)
    if not isinstance(frames, int) or size is None:
        raise SystemExit(
            'cannot tell the clip size of this model: pass --shape FRAMES HEIGHT WIDTH'
        )
    return frames, size, size


def export(
    model: nn.Module, out: str, shape: Tuple[int, int, int], opset: int = 17, num_views: int = 2
) -> None:
    """Write ``model`` as ONNX to ``out`` with a dynamic number of views."""
    wrapper = ClipsToLogits(model).eval()
    example = torch.randn(num_views, 3, *shape)
    with torch.no_grad(), warnings.catch_warnings():
        # The model's input-shape checks become constants of the trace: right,
        # as only the number of views is dynamic.
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        # dynamo=False is chosen: it needs no onnxscript.
        warnings.filterwarnings('ignore', 'You are using the legacy TorchScript-based ONNX export')
        warnings.filterwarnings('ignore', 'Constant folding - Only steps=1 can be constant folded')
        torch.onnx.export(
            wrapper,
            (example,),
            out,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: 'views'}, OUTPUT_NAME: {0: 'views'}},
            opset_version=opset,
            dynamo=False,
        )


def compare_with_onnxruntime(model: nn.Module, path: str, clips: torch.Tensor) -> Dict[str, float]:
    """Largest absolute difference between PyTorch's and onnxruntime's logits."""
    import onnxruntime

    with torch.no_grad():
        expected = ClipsToLogits(model).eval()(clips)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: clips.numpy()})
    got = torch.from_numpy(got)
    return dict(
        max_abs_diff=float((got - expected).abs().max()),
        max_abs_logit=float(expected.abs().max()),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description='Export a recognizer to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help="checkpoint of the config's model")
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape', type=int, nargs='+', metavar='N', help='FRAMES HEIGHT WIDTH of one view'
    )
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help="compare onnxruntime's logits with PyTorch's on random clips",
    )
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    # Strict: a checkpoint of another model is refused, naming each key and shape.
    model = init_tdsclip_recognizer(args.config, args.checkpoint, cfg_options=args.cfg_options)
    shape = clip_shape(model, args.shape)
    export(model, args.out, shape, args.opset)
    print(
        f'wrote {args.out}: {INPUT_NAME} (views, 3, {", ".join(map(str, shape))}) -> '
        f'{OUTPUT_NAME} (views, classes)'
    )
    if args.verify:
        result = compare_with_onnxruntime(model, args.out, torch.randn(3, 3, *shape))
        print(
            f'onnxruntime vs PyTorch on 3 random views: max |diff| = {result["max_abs_diff"]:.3g} '
            f'(max |logit| = {result["max_abs_logit"]:.3g})'
        )
    if not osp.isfile(args.out):
        raise SystemExit(f'{args.out} was not written')


if __name__ == '__main__':
    main()
