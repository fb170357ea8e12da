"""Training-step and inference cost of TDS-CLIP against the alternatives.

Each configuration runs in a fresh process (so peak memory is its own) at the
same batch size and geometry; one table compares them as ratios to the
reference mode, which computes what the authors' code computes the way it
computes it (fp32 everywhere, frozen branch without autograd, nothing else
optimised).

Example::

    python tools/benchmark.py --batch 2 --steps 3 --json bench.json
    python tools/benchmark.py --arch ViT-L/14 --device cuda --batch 32 --amp
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {
    'tdsclip': 'TDS-CLIP, shipped (bf16 frozen branch and side autocast on CPU, SDPA, lean activations)',
    'tdsclip-reference': "TDS-CLIP, reference mode (the authors' computation)",
    'tdsclip-checkpointed': 'TDS-CLIP, shipped + activation checkpointing of side blocks',
    'side4video': 'Side4Video (TD and SME off), shipped',
    'full-finetune': 'full fine-tune of the same CLIP ViT + side network (fp32)',
    'uniformerv2': 'MMAction2 UniFormerV2-B/16, end to end (fp32)',
}
SIDE_DIMS = {'ViT-B/16': 320, 'ViT-L/14': 512}


def tdsclip_cfg(args, name):
    """Model config of a TDS-CLIP variant."""
    from mmaction_tdsclip.constants import CLIP_MEAN, CLIP_STD

    reference = name in ('tdsclip-reference', 'full-finetune')
    precision = (
        'fp32' if reference else ('fp16' if args.device == 'cuda' and args.frozen_fp16 else 'bf16')
    )
    return dict(
        type='TDSCLIPRecognizer',
        backbone=dict(
            type='FrozenCLIPViT', arch=args.arch, precision=precision, use_sdpa=not reference
        ),
        neck=dict(
            type='TDSSideNetwork',
            num_segments=args.frames,
            num_local_frames=args.local_frames,
            side_dim=SIDE_DIMS[args.arch],
            use_td=name != 'side4video',
            use_sme=name != 'side4video',
            memory_efficient=not reference,
            use_sdpa=not reference,
            # MMEngine's AmpOptimWrapper is GPU-only: on CPU the neck's own bf16 autocast is the
            # mixed-precision switch; on GPU --amp autocasts the whole step instead.
            side_precision='bf16' if not reference and args.device == 'cpu' else 'fp32',
            with_cp=name == 'tdsclip-checkpointed',
        ),
        cls_head=dict(
            type='TDSHead',
            num_classes=args.num_classes,
            in_channels=SIDE_DIMS[args.arch],
            label_smooth_eps=0.1,
            average_clips='prob',
        ),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=CLIP_MEAN, std=CLIP_STD, format_shape='NCTHW'
        ),
    )


def uniformerv2_cfg(args):
    """MMAction2's own UniFormerV2-B/16 (8 frames) recognizer, untouched but for the class count."""
    import mmaction
    from mmengine.config import Config

    path = os.path.join(
        os.path.dirname(mmaction.__file__),
        '.mim',
        'configs',
        'recognition',
        'uniformerv2',
        'uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py',
    )
    model = Config.fromfile(path).model
    model.backbone.pretrained = None
    model.cls_head.num_classes = args.num_classes
    return model.to_dict()


def unfreeze(model):
    """Make the CLIP tower trainable for the full fine-tune comparison."""
    import torch

    tower = model.backbone
    for p in tower.parameters():
        p.requires_grad_(True)

    def forward_with_grad(x, out_layers=None):
        x = tower.embed(x)
        outs = []
        for block in tower.transformer.resblocks:
            x = block(x)
            outs.append(x)
        return [outs[i] for i in out_layers]

    tower.forward = forward_with_grad
    tower.train = lambda mode=True: torch.nn.Module.train(tower, mode)
    return model


def worker(args):
    """Measure one configuration in this process; print one JSON line."""
    import torch
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401

    init_default_scope('mmaction')
    torch.manual_seed(0)
    name = args.worker
    device = torch.device(args.device)

    if name == 'uniformerv2':
        model = MODELS.build(uniformerv2_cfg(args))
        clip_len = args.frames
    else:
        model = MODELS.build(tdsclip_cfg(args, name))
        clip_len = args.frames * args.local_frames
        if name == 'full-finetune':
            unfreeze(model)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.15)
    amp = args.amp and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    inputs = torch.randn(args.batch, 1, 3, clip_len, args.img_size, args.img_size, device=device)
    samples = []
    for i in range(args.batch):
        s = ActionDataSample()
        s.set_gt_label(torch.tensor([i % args.num_classes]))
        samples.append(s)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    def train_step():
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = model(inputs, samples, mode='loss')['loss_cls']
        optim.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()

    model.train()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    step_times = []
    for i in range(args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        train_step()
        sync()
        if i >= args.warmup:
            step_times.append(time.perf_counter() - start)
    train_peak = (
        torch.cuda.max_memory_allocated()
        if device.type == 'cuda'
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )

    model.eval()
    infer_times = []
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        for i in range(args.warmup + args.steps):
            sync()
            start = time.perf_counter()
            model(inputs, samples, mode='predict')
            sync()
            if i >= args.warmup:
                infer_times.append(time.perf_counter() - start)
    step = statistics.median(step_times)
    infer = statistics.median(infer_times)
    print(
        json.dumps(
            dict(
                name=name,
                batch=args.batch,
                step_s=step,
                clips_per_s=args.batch / step,
                peak_train_bytes=train_peak,
                infer_s_per_view=infer / args.batch,
                trainable_params=sum(p.numel() for p in params),
            )
        )
    )


def run_all(args):
    rows = []
    for name in args.configs:
        cmd = [sys.executable, __file__, '--worker', name] + [
            a for a in sys.argv[1:] if a != '--json' and a != args.json
        ]
        print(f'[benchmark] {name}: {CONFIGS[name]} ...', file=sys.stderr, flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            sys.stderr.write(result.stderr[-3000:])
            raise SystemExit(f'{name} failed')
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    by_name = {r['name']: r for r in rows}
    ref = by_name.get('tdsclip-reference')
    fft = by_name.get('full-finetune')
    for r in rows:
        if ref:
            r['speedup_vs_reference'] = ref['step_s'] / r['step_s']
            r['memory_vs_reference'] = r['peak_train_bytes'] / ref['peak_train_bytes']
        if fft:
            r['memory_vs_full_finetune'] = r['peak_train_bytes'] / fft['peak_train_bytes']
    memory = 'peak GPU alloc' if args.device == 'cuda' else 'peak RSS'
    header = (
        f'| config | batch | train step (s) | clips/s | {memory} (GB) | infer s/view | trainable (M) '
        '| speed vs ref | memory vs ref | memory vs full FT |'
    )
    print(
        f'\n{args.arch}, {args.img_size}x{args.img_size}, T={args.frames}, n={args.local_frames}, '
        f'device {args.device}{" + AMP" if args.amp else ""}, median of {args.steps} steps after '
        f'{args.warmup} warm-up\n'
    )
    print(header)
    print('|' + '|'.join(['---'] * 10) + '|')
    for r in rows:
        fmt = lambda key, spec: format(r[key], spec) if key in r else '-'  # noqa: E731
        print(
            f'| {r["name"]} | {r["batch"]} | {r["step_s"]:.2f} | {r["clips_per_s"]:.2f} | '
            f'{r["peak_train_bytes"] / 1e9:.2f} | {r["infer_s_per_view"]:.3f} | '
            f'{r["trainable_params"] / 1e6:.2f} | {fmt("speedup_vs_reference", ".2f")}x | '
            f'{fmt("memory_vs_reference", ".2f")}x | {fmt("memory_vs_full_finetune", ".2f")}x |'
        )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--configs',
        nargs='+',
        default=['tdsclip', 'tdsclip-reference', 'side4video', 'full-finetune', 'uniformerv2'],
        choices=list(CONFIGS),
    )
    parser.add_argument('--arch', default='ViT-B/16', choices=sorted(SIDE_DIMS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--local-frames', type=int, default=5)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--num-classes', type=int, default=174)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast + GradScaler on CUDA')
    parser.add_argument(
        '--frozen-fp16', action='store_true', help='fp16 instead of bf16 for the frozen branch'
    )
    parser.add_argument('--json', help='also write the table as JSON here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == '__main__':
    args = parse_args()
    worker(args) if args.worker else run_all(args)
