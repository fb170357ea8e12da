"""FLOPs per view of TDS-CLIP and Side4Video, next to the papers' numbers.

Usage:
    python tools/analysis/get_flops.py [--counter fvcore|torch] [--models NAME ...]

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


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='FLOPs (MACs) per view of TDS-CLIP and Side4Video')
    parser.add_argument('--counter', choices=['fvcore', 'torch'], default='fvcore')
    parser.add_argument(
        '--models', nargs='+', choices=list(MODELS_TABLE), default=list(MODELS_TABLE)
    )
    args = parser.parse_args(argv)
    torch.manual_seed(0)
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
