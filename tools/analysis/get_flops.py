"""FLOPs per view of TDS-CLIP and Side4Video, next to the papers' numbers.

Usage:
    python tools/analysis/get_flops.py [--counter fvcore|torch] [--models NAME ...]
    python tools/analysis/get_flops.py CONFIG [--shape FRAMES HEIGHT WIDTH] [--counter ...]
                                       [--cfg-options k=v ...]

Without CONFIG, the five presets below are counted next to the papers'
numbers. With CONFIG, the config's ``model`` is counted for one view
``(1, 1, 3, FRAMES, HEIGHT, WIDTH)``; FRAMES, HEIGHT and WIDTH default to
the model's ``T*n`` (``neck.num_segments * neck.num_local_frames``) and the
backbone's ``img_size``. Its weights are not loaded (``pretrained=None``):
the count does not depend on them.

"FLOPs" here are multiply-accumulates (MACs) of the matrix products and
convolutions, as the TDS-CLIP and Side4Video papers count them: counted this
way, the five models come out at the papers' numbers to the printed digit.
Norm layers, activations, softmax and element-wise sums are not counted;
fvcore's estimate for the norms (5 per LayerNorm element, 2 per BatchNorm
element) is shown apart as "+norms" (about 0.16 % more).

Models are built on the CPU with random weights (the count does not depend
on them) and one view ``(1, 1, 3, T*n, 224, 224)`` is run through
``extract_feat`` and the head. The side network runs its plain path
(``memory_efficient=False``: 1x1x1 and depthwise temporal convs as convs,
queries projected for the patch rows only) and attention uses explicit
matmuls (``use_sdpa=False``), so that both counters see every product.

Counters:
    fvcore: ``fvcore.nn.FlopCountAnalysis`` (counts MACs); the default.
    torch: ``torch.utils.flop_counter.FlopCounterMode`` (counts 2 FLOPs per
        MAC; halved here). It has no norm estimates.
"""

import argparse
import copy
import inspect
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmaction_tdsclip.constants import CLIP_MEAN, CLIP_STD

# name: (backbone arch, side width, T, n, use_td/use_sme, the papers' GFLOPs per view,
#        trainable params without fc in M, docs/model.md section 8)
MODELS_TABLE: Dict[str, Tuple[str, int, int, int, bool, float, float]] = {
    'TDS-CLIP B/16 8f': ('ViT-B/16', 320, 8, 5, True, 180.6, 24.17),
    'TDS-CLIP B/16 16f': ('ViT-B/16', 320, 16, 5, True, 361.1, 24.17),
    'TDS-CLIP L/14 8f': ('ViT-L/14', 512, 8, 5, True, 878.3, 106.45),
    'Side4Video B/16 8f': ('ViT-B/16', 320, 8, 1, False, 175.7, 21.06),
    'Side4Video L/14 8f': ('ViT-L/14', 512, 8, 1, False, 869.3, 102.02),
}

NORM_OPS = ('aten::batch_norm', 'aten::group_norm', 'aten::layer_norm', 'aten::instance_norm')


def recognizer_config(
    arch,
    side_dim: int,
    num_segments: int,
    num_local_frames: int,
    tds: bool,
    img_size: Optional[int] = None,
    num_classes: int = 174,
) -> Dict:
    """A ``TDSCLIPRecognizer`` config; ``tds=False`` is the Side4Video baseline."""
    return dict(
        type='TDSCLIPRecognizer',
        backbone=dict(type='FrozenCLIPViT', arch=arch, img_size=img_size, use_sdpa=False),
        neck=dict(
            type='TDSSideNetwork',
            num_segments=num_segments,
            num_local_frames=num_local_frames,
            side_dim=side_dim,
            use_td=tds,
            use_sme=tds,
            use_sdpa=False,
            memory_efficient=False,
        ),
        cls_head=dict(type='TDSHead', num_classes=num_classes, in_channels=side_dim),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=CLIP_MEAN, std=CLIP_STD, format_shape='NCTHW'
        ),
    )


def build_recognizer(cfg: Dict) -> nn.Module:
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registration)

    init_default_scope('mmaction')
    return MODELS.build(cfg).eval()


class ViewToLogits(nn.Module):
    """``(B, V, 3, T*n, H, W) -> logits (B*V, classes)`` through ``extract_feat`` and the head."""

    def __init__(self, recognizer: nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.recognizer.extract_feat(inputs, stage='head', test_mode=True)[0]


def count_macs(
    module: nn.Module,
    inputs: torch.Tensor,
    counter: str = 'fvcore',
    include_norms: bool = False,
    submodule: Optional[str] = None,
) -> int:
    """Multiply-accumulates of ``module(inputs)``.

    Args:
        counter: ``'fvcore'`` or ``'torch'`` (see the module docstring).
        include_norms: Add fvcore's LayerNorm / BatchNorm estimates (5 and 2
            per element); the papers leave them out, and the torch counter
            has none.
        submodule: Count only the part of the run inside this submodule
            (a dotted name relative to ``module``).
    """
    return count_breakdown(module, inputs, counter, [submodule or ''])[submodule or ''][
        'total' if include_norms else 'macs'
    ]


def count_breakdown(
    module: nn.Module,
    inputs: torch.Tensor,
    counter: str = 'fvcore',
    submodules: Sequence[str] = ('',),
) -> Dict[str, Dict[str, int]]:
    """Per submodule, ``macs`` (matmuls and convs) and ``total`` (plus norms) of one run.

    ``''`` names ``module`` itself.
    """
    module.eval()
    out = {}
    with torch.no_grad():
        if counter == 'fvcore':
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(module, (inputs,))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_op = analysis.by_module_and_operator()
            for name in submodules:
                ops = by_op[name]
                norms = sum(ops.get(op.split('::')[1], 0) for op in NORM_OPS)
                out[name] = dict(macs=int(sum(ops.values()) - norms), total=int(sum(ops.values())))
            return out
        if counter == 'torch':
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as mode:
                module(inputs)
            counts = mode.get_flop_counts()
            root = type(module).__name__
            for name in submodules:
                flops = sum(counts.get(f'{root}.{name}' if name else root, {}).values())
                out[name] = dict(macs=flops // 2, total=flops // 2)
            return out
    raise ValueError(f'counter={counter!r} is not fvcore or torch.')


def trainable_params_without_fc(model: nn.Module) -> int:
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if p.requires_grad and not name.startswith('cls_head.')
    )


def measure(name: str, counter: str, img_size: int = 224) -> Dict:
    arch, side, frames, n, tds, paper, paper_params = MODELS_TABLE[name]
    model = build_recognizer(recognizer_config(arch, side, frames, n, tds))
    inputs = torch.randn(1, 1, 3, frames * n, img_size, img_size)
    counts = count_breakdown(ViewToLogits(model), inputs, counter, ['', 'recognizer.backbone'])
    return dict(
        name=name,
        macs=counts['']['macs'] / 1e9,
        with_norms=counts['']['total'] / 1e9,
        backbone=counts['recognizer.backbone']['macs'] / 1e9,
        paper=paper,
        params=trainable_params_without_fc(model) / 1e6,
        paper_params=paper_params,
    )


def counting_model_config(model_cfg: Dict) -> Dict:
    """A copy of ``model_cfg`` set up for counting: no weight file read, and
    the plain paths (``use_sdpa=False``, ``memory_efficient=False``) wherever
    the backbone or neck takes those arguments, so the counters see every
    product."""
    from mmaction.registry import MODELS
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401  (registration)

    init_default_scope('mmaction')
    model_cfg = ConfigDict(copy.deepcopy(model_cfg))
    overrides = dict(use_sdpa=False, memory_efficient=False, pretrained=None)
    for part in ('backbone', 'neck'):
        sub = model_cfg.get(part)
        if not isinstance(sub, dict) or 'type' not in sub:
            continue
        cls = MODELS.get(sub['type'])
        params = inspect.signature(cls).parameters if cls is not None else {}
        sub.update({k: v for k, v in overrides.items() if k in params})
    return model_cfg


def view_shape(model: nn.Module, shape: Optional[Sequence[int]]) -> Tuple[int, int, int]:
    """``(frames, height, width)`` of one view: ``shape`` or the model's own."""
    if shape:
        if len(shape) != 3:
            raise SystemExit(f'--shape takes FRAMES HEIGHT WIDTH, got {list(shape)}')
        return tuple(shape)
    neck, backbone = getattr(model, 'neck', None), getattr(model, 'backbone', None)
    # T is num_segments in newer necks, num_frames in older ones.
    segments = getattr(neck, 'num_segments', getattr(neck, 'num_frames', None))
    frames = segments, getattr(neck, 'num_local_frames', None)
    size = getattr(backbone, 'img_size', None)
    if None in frames or size is None:
        raise SystemExit(
            f'cannot tell the input size of {type(model).__name__} with '
            f'{type(backbone).__name__} / {type(neck).__name__}: pass --shape FRAMES HEIGHT WIDTH'
        )
    return frames[0] * frames[1], size, size


def measure_config(
    config: str,
    counter: str,
    shape: Optional[Sequence[int]] = None,
    cfg_options: Optional[Dict] = None,
) -> Dict:
    """MACs of one view of the model a config describes."""
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_recognizer(counting_model_config(cfg.model))
    frames, height, width = view_shape(model, shape)
    inputs = torch.randn(1, 1, 3, frames, height, width)
    parts = ['', 'recognizer.backbone']
    counts = count_breakdown(ViewToLogits(model), inputs, counter, parts)
    return dict(
        shape=(frames, height, width),
        macs=counts['']['macs'] / 1e9,
        with_norms=counts['']['total'] / 1e9,
        backbone=counts['recognizer.backbone']['macs'] / 1e9,
        params=trainable_params_without_fc(model) / 1e6,
    )


def main(argv: Optional[List[str]] = None) -> None:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='FLOPs (MACs) per view of TDS-CLIP and Side4Video')
    parser.add_argument(
        'config', nargs='?', help="count this config's model (default: the paper presets)"
    )
    parser.add_argument('--counter', choices=['fvcore', 'torch'], default='fvcore')
    parser.add_argument(
        '--models', nargs='+', choices=list(MODELS_TABLE), default=list(MODELS_TABLE)
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        metavar='N',
        help="with CONFIG: FRAMES HEIGHT WIDTH of one view (default: the model's T*n and img_size)",
    )
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='with CONFIG: override config entries'
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    if args.config is not None:
        r = measure_config(args.config, args.counter, args.shape, args.cfg_options)
        frames, height, width = r['shape']
        norms = f'{r["with_norms"]:.2f}' if args.counter == 'fvcore' else 'n/a'
        print(f'{args.config}: one view 1 x 3 x {frames} x {height} x {width}')
        print(f'GFLOPs (MACs of matmuls and convs, counter: {args.counter}): {r["macs"]:.2f}')
        print(f'  frozen backbone: {r["backbone"]:.2f}; the rest: {r["macs"] - r["backbone"]:.2f}')
        print(f"  with fvcore's norm estimates: {norms}")
        print(f'Trainable parameters without cls_head: {r["params"]:.2f} M')
        return
    header = (
        f'{"model":<20} {"GFLOPs":>7} {"paper":>6} {"ratio":>6} {"+norms":>7} {"CLIP":>6} '
        f'{"side+head":>9} {"params M":>8} {"spec M":>7}'
    )
    print(
        f'FLOPs per view: multiply-accumulates of matmuls and convs, 1 x 3 x T*n x 224 x 224 '
        f'(counter: {args.counter}; "+norms": with fvcore\'s LayerNorm/BatchNorm estimates)'
    )
    print(header)
    print('-' * len(header))

    def norms(r: Dict) -> str:
        return f'{r["with_norms"]:.1f}' if args.counter == 'fvcore' else 'n/a'

    for name in args.models:
        r = measure(name, args.counter)
        print(
            f'{r["name"]:<20} {r["macs"]:7.1f} {r["paper"]:6.1f} {r["macs"] / r["paper"]:6.3f} '
            f'{norms(r):>7} {r["backbone"]:6.1f} {r["macs"] - r["backbone"]:9.1f} '
            f'{r["params"]:8.2f} {r["paper_params"]:7.2f}',
            flush=True,
        )


if __name__ == '__main__':
    main()
