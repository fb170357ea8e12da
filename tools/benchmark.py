"""Training-step and inference cost of TDS-CLIP against the authors' computation.

Each row runs in a fresh process (so its memory is its own) at the same batch
size and geometry; ``--repeat R`` runs the rows R times, alternating, and
reports medians, so that a slower moment of a shared machine does not land on
one row. Ratios are against the ``authors`` row: TDS-CLIP computed the way the
authors' released code computes it (``tools/authors_model.py``: their layout
and operations, fp32, no autograd through the frozen CLIP).

Rows are presets (built from the shipped configs under ``configs/``, with the
switches each preset names) or ``--config CONFIG`` for any config.

Memory is reported three ways (see the README's "Speed and memory"):

* ``peak_train_bytes``: the process's peak resident set (CPU) or
  ``torch.cuda.max_memory_allocated`` (GPU); ``step_rss_bytes``: that peak
  above the resident set after the model, optimizer and inputs are built;
* ``step_live_bytes``: the peak of tensor storages a training step allocates,
  alive at once (device-independent, what a GPU allocator would count);
* ``saved_bytes_per_clip``: bytes autograd saves for backward per clip; plus
  parameter, gradient and optimizer-state bytes, and from these
  ``projected_gpu_peak_bytes`` at ``--project-batch`` (32) clips with mixed
  precision.

The two device-independent measures run with a ``TorchDispatchMode`` active,
under which ``torch.compile`` runs a frame eagerly: for a row with
``model.compile=True`` they are the eager model's; its step time and resident
set are its own (the resident set includes the compiler's).

Example::

    python tools/benchmark.py --configs authors tdsclip tdsclip-reference --steps 3
    python tools/benchmark.py --config configs/tdsclip/<config>.py --configs authors
    python tools/benchmark.py --arch ViT-L/14 --device cuda --batch 32 --amp
"""

import argparse
import glob
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PRESETS = {
    'authors': "the authors' computation (tools/authors_model.py: their layout, fp32)",
    'tdsclip': 'TDS-CLIP, shipped config + mixed precision (bf16 on CPU)',
    'tdsclip-compiled': 'TDS-CLIP, as tdsclip + model.compile=True (torch.compile)',
    'tdsclip-reference': 'TDS-CLIP, reference mode (fp32, plain layout, explicit softmax)',
    'tdsclip-checkpointed': 'TDS-CLIP, as tdsclip + activation checkpointing of side blocks',
    'side4video': 'Side4Video (TD and SME off), as tdsclip',
    'full-finetune': 'full fine-tune of the same CLIP ViT + side network (fp32)',
    'uniformerv2': 'MMAction2 UniFormerV2-B/16, end to end (fp32)',
}
#: The shipped config each preset starts from, per backbone.
ARCH_CONFIGS = {
    'ViT-B/16': 'configs/tdsclip/tdsclip_clip-vit-b16_*u8x5*sthv2-rgb.py',
    'ViT-L/14': 'configs/tdsclip/tdsclip_clip-vit-l14_*u8x5*sthv2-rgb.py',
}
#: Model overrides of the presets. 'mixed' is filled in per device in preset_overrides.
REFERENCE = dict(
    backbone=dict(precision='fp32', use_sdpa=False),
    neck=dict(memory_efficient=False, use_sdpa=False, side_precision='fp32', with_cp=False),
)
#: Presets that run in mixed precision as configured (projected without an extra autocast).
MIXED = ('tdsclip', 'tdsclip-compiled', 'tdsclip-checkpointed', 'side4video')
#: Fields that are counts, not measurements (no median over rounds).
COUNTS = ('batch', 'trainable_params', 'project_batch')


def preset_overrides(name, device, frozen_fp16=False):
    """Model-config overrides of a preset on ``device``."""
    # MMEngine's AmpOptimWrapper is GPU-only: on CPU the backbone's and the neck's own bf16
    # autocast are the mixed-precision switch; on GPU --amp autocasts the whole step.
    frozen = 'fp16' if device == 'cuda' and frozen_fp16 else 'bf16'
    mixed = dict(
        backbone=dict(precision=frozen),
        neck=dict(side_precision='bf16' if device == 'cpu' else 'fp32'),
    )
    return {
        'tdsclip': mixed,
        'tdsclip-compiled': merge(mixed, dict(compile=True)),
        'tdsclip-checkpointed': merge(mixed, dict(neck=dict(with_cp=True))),
        'side4video': merge(mixed, dict(neck=dict(use_td=False, use_sme=False))),
        'tdsclip-reference': REFERENCE,
        'full-finetune': REFERENCE,
    }[name]


def merge(base, extra):
    """Recursive dict update into a copy of ``base``."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def arch_config(arch):
    matches = sorted(glob.glob(osp.join(REPO_ROOT, ARCH_CONFIGS[arch])))
    if len(matches) != 1:
        raise SystemExit(f'expected one config matching {ARCH_CONFIGS[arch]}, found {matches}')
    return matches[0]


def load_model_cfg(path, overrides, args):
    """The model dict of config ``path`` with ``overrides`` and the command-line geometry."""
    from mmengine.config import Config

    model = Config.fromfile(path).model.to_dict()
    model = merge(model, overrides)
    neck = model.get('neck') or {}
    if args.frames is not None and neck:
        neck['num_segments'] = args.frames
    if args.local_frames is not None and 'num_local_frames' in neck:
        neck['num_local_frames'] = args.local_frames
    if args.num_classes is not None and 'cls_head' in model:
        model['cls_head']['num_classes'] = args.num_classes
    backbone = model.get('backbone', {})
    if backbone.get('pretrained') and not osp.exists(str(backbone['pretrained'])):
        # Cost does not depend on the weights' values.
        print(f'[benchmark] {backbone["pretrained"]} not found: random weights', file=sys.stderr)
        backbone['pretrained'] = None
    if args.img_size is not None and 'img_size' in backbone:
        backbone['img_size'] = args.img_size
    return model


def uniformerv2_cfg(args):
    """MMAction2's own UniFormerV2-B/16 (8 frames) recognizer, untouched but for the class count."""
    import mmaction

    path = osp.join(
        osp.dirname(mmaction.__file__),
        '.mim',
        'configs',
        'recognition',
        'uniformerv2',
        'uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py',
    )
    return load_model_cfg(path, dict(backbone=dict(pretrained=None)), args)


def unfreeze(model):
    """Make the CLIP tower trainable for the full fine-tune comparison."""
    import torch

    tower = model.backbone
    for p in tower.parameters():
        p.requires_grad_(True)

    def forward_with_grad(x, out_layers=None):
        x = tower.embed(x)
        outs = []
        for block in tower.blocks:
            x = block(x)
            outs.append(x)
        return [outs[i] for i in out_layers]

    tower.forward = forward_with_grad
    tower.train = lambda mode=True: torch.nn.Module.train(tower, mode)
    return model


class Subject:
    """A model under test with its input builder and loss."""

    def __init__(self, model, make_inputs, loss, predict, projection_autocast=True):
        self.model = model
        self.make_inputs = make_inputs
        self.loss = loss
        self.predict = predict
        # Run the projection's tracked steps under autocast (for fp32-built rows that train
        # with mixed precision, as the authors do).
        self.projection_autocast = projection_autocast


def geometry(args):
    """(T, n, img_size, num_classes) of the shipped config of ``args.arch``, with overrides."""
    model = load_model_cfg(arch_config(args.arch), {}, args)
    neck = model['neck']
    img = model['backbone'].get('img_size') or 224
    return neck['num_segments'], neck['num_local_frames'], img, model['cls_head']['num_classes']


def build_subject(args, name):
    import torch
    import torch.nn.functional as F

    if name == 'authors':
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        import authors_model

        T, n, img, classes = geometry(args)
        model = authors_model.AuthorsTDSCLIP(
            **authors_model.ARCHS[args.arch],
            img_size=img,
            num_segments=T,
            num_local_frames=n,
            num_classes=classes,
        )

        def make_inputs(batch):
            x = torch.randn(batch, 3, T * n, img, img)
            return x, torch.arange(batch) % classes

        def loss(inputs):
            x, y = inputs
            return F.cross_entropy(model(x), y, label_smoothing=0.1)

        def predict(inputs):
            with torch.no_grad():
                return model(inputs[0]).softmax(-1)

        return Subject(model, make_inputs, loss, predict)

    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample

    if name == 'uniformerv2':
        cfg = uniformerv2_cfg(args)
    elif name in PRESETS:
        cfg = load_model_cfg(
            arch_config(args.arch), preset_overrides(name, args.device, args.frozen_fp16), args
        )
    else:
        cfg = load_model_cfg(name, {}, args)
    if args.compile and cfg['type'] == 'TDSCLIPRecognizer':
        cfg['compile'] = True
    model = MODELS.build(cfg)
    if name == 'full-finetune':
        unfreeze(model)
    classes = cfg['cls_head']['num_classes']
    neck = getattr(model, 'neck', None)
    if hasattr(neck, 'num_local_frames'):  # a TDS-CLIP-style recognizer
        T = neck.num_segments
        shape = (1, 3, T * neck.num_local_frames)
        img = model.backbone.img_size
    else:
        clip_len = args.frames or 8
        shape = (
            (clip_len, 3)
            if cfg.get('data_preprocessor', {}).get('format_shape') == 'NCHW'
            else (1, 3, clip_len)
        )
        img = args.img_size or 224

    head_forward = model.cls_head.forward

    def fp32_head(x, **kwargs):
        # The head's accuracy goes through numpy, which has no bfloat16; it is tiny.
        with torch.autocast(x.device.type, enabled=False):
            return head_forward(x.float(), **kwargs)

    model.cls_head.forward = fp32_head

    def make_inputs(batch):
        samples = []
        for i in range(batch):
            s = ActionDataSample()
            s.set_gt_label(torch.tensor([i % classes]))
            samples.append(s)
        return torch.randn(batch, *shape, img, img), samples

    def loss(inputs):
        return model(*inputs, mode='loss')['loss_cls']

    def predict(inputs):
        return model(*inputs, mode='predict')

    # Rows whose config runs in mixed precision already are projected as they are.
    return Subject(model, make_inputs, loss, predict, projection_autocast=name not in MIXED)


def rss_now():
    """Resident set size of this process now, in bytes (Linux)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def worker(args):
    """Measure one row in this process; print one JSON line."""
    import torch
    from mmengine.registry import init_default_scope

    import mmaction_tdsclip  # noqa: F401

    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from memory_measure import LiveTensorBytes, saved_tensor_bytes

    init_default_scope('mmaction')
    torch.manual_seed(0)
    name = args.worker
    device = torch.device(args.device)
    subject = build_subject(args, name)
    model = subject.model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.15)
    amp = args.amp and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    inputs = tuple(
        t.to(device) if isinstance(t, torch.Tensor) else t for t in subject.make_inputs(args.batch)
    )

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    def forward_backward(inputs, autocast=amp, dtype=torch.float16, tracker=None):
        optim.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=autocast):
            loss = subject.loss(inputs)
        if tracker is not None:  # the forward's peak, then the backward's
            tracker.forward_peak, tracker.peak = tracker.peak, tracker.live
        scaler.scale(loss).backward()

    def update():
        scaler.step(optim)
        scaler.update()

    def train_step(inputs):
        forward_backward(inputs)
        update()

    model.train()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    baseline_rss = rss_now()
    step_times, step_cpu = [], []
    for i in range(args.warmup + args.steps):
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        train_step(inputs)
        sync()
        if i >= args.warmup:
            step_times.append(time.perf_counter() - start)
            step_cpu.append(time.process_time() - cpu)
    train_peak = (
        torch.cuda.max_memory_allocated()
        if device.type == 'cuda'
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )

    # Device-independent measures, in extra steps under the trackers: the row as configured at
    # the benchmark's batch, and for the projection, with mixed precision at 1 clip and at the
    # batch (the step's memory is linear in the batch).
    frozen = list(model.parameters()) + list(model.buffers())
    half = torch.float16 if device.type == 'cuda' else torch.bfloat16

    def tracked(batch, autocast):
        x = tuple(
            t.to(device) if isinstance(t, torch.Tensor) else t for t in subject.make_inputs(batch)
        )
        optim.zero_grad(set_to_none=True)
        with LiveTensorBytes() as fb, saved_tensor_bytes(frozen) as counted:
            forward_backward(x, autocast=autocast or amp, dtype=half, tracker=fb)
        with LiveTensorBytes() as opt:
            update()
        optim.zero_grad(set_to_none=True)
        # Peaks above the state before the step, in the forward, in the backward (gradients
        # included) and in the optimizer step (gradients plus what it allocates while it runs).
        peaks = (fb.forward_peak, fb.peak, bytes_of(params) + opt.peak)
        return max(peaks), counted['bytes'], peaks

    bytes_of = lambda ts: sum(t.numel() * t.element_size() for t in ts)  # noqa: E731
    step_live, saved, _ = plain = tracked(args.batch, False)
    autocast = subject.projection_autocast
    mixed = {args.batch: tracked(args.batch, True) if autocast else plain}
    if 1 not in mixed:
        mixed[1] = tracked(1, autocast)

    model.eval()
    infer_times = []
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        for i in range(args.warmup + args.steps):
            sync()
            start = time.perf_counter()
            subject.predict(inputs)
            sync()
            if i >= args.warmup:
                infer_times.append(time.perf_counter() - start)

    state = [t for s in optim.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    grad_bytes = bytes_of(params)
    param_bytes = bytes_of(model.parameters())
    buffer_bytes = bytes_of(model.buffers())
    state_bytes = bytes_of(state)
    clip_bytes = bytes_of([inputs[0]]) // args.batch
    # Linear in the batch: what one clip adds, and what a step needs whatever the batch.
    b2 = args.batch
    # Each phase's peak is linear in the batch: extrapolate from 1 clip and the batch.
    phases = []
    for p1, p2 in zip(mixed[1][2], mixed[b2][2]):
        per_clip = (p2 - p1) / (b2 - 1) if b2 > 1 else p1
        phases.append((p1 - per_clip, per_clip, p1 - per_clip + args.project_batch * per_clip))
    fixed, per_clip, step_projected = max(phases, key=lambda phase: phase[2])
    projected = (
        param_bytes + buffer_bytes + state_bytes + args.project_batch * clip_bytes + step_projected
    )
    step = statistics.median(step_times)
    print(
        json.dumps(
            dict(
                name=name,
                batch=args.batch,
                step_s=step,
                step_cpu_s=statistics.median(step_cpu),
                clips_per_s=args.batch / step,
                peak_train_bytes=train_peak,
                baseline_rss_bytes=baseline_rss,
                step_rss_bytes=train_peak - (0 if device.type == 'cuda' else baseline_rss),
                step_live_bytes=step_live,
                saved_bytes_per_clip=saved / args.batch,
                saved_bytes_per_clip_mixed=mixed[b2][1] / b2,
                param_bytes=param_bytes,
                buffer_bytes=buffer_bytes,
                grad_bytes=grad_bytes,
                optimizer_state_bytes=state_bytes,
                input_bytes_per_clip=clip_bytes,
                step_live_bytes_per_clip_mixed=per_clip,
                step_live_bytes_fixed_mixed=fixed,
                project_batch=args.project_batch,
                projected_gpu_peak_bytes=projected,
                infer_s_per_view=statistics.median(infer_times) / args.batch,
                trainable_params=sum(p.numel() for p in params),
            )
        )
    )


def run_all(args):
    names = list(args.configs) + list(args.config or [])
    runs = {n: [] for n in names}
    passthrough = [a for a in sys.argv[1:]]
    for flag in ('--json', '--repeat', '--configs', '--config'):
        while flag in passthrough:
            i = passthrough.index(flag)
            j = i + 1
            while j < len(passthrough) and not passthrough[j].startswith('--'):
                j += 1
            del passthrough[i:j]
    for r in range(args.repeat):
        for name in names:
            cmd = [sys.executable, __file__, '--worker', name] + passthrough
            label = PRESETS.get(name, name)
            print(f'[benchmark] round {r + 1}: {name}: {label} ...', file=sys.stderr, flush=True)
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode:
                sys.stderr.write(result.stderr[-3000:])
                raise SystemExit(f'{name} failed')
            runs[name].append(json.loads(result.stdout.strip().splitlines()[-1]))
    rows = []
    for name in names:
        row = dict(runs[name][0])
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in COUNTS:
                row[key] = statistics.median(run[key] for run in runs[name])
        row['runs'] = runs[name]
        row['name'] = osp.basename(name) if name not in PRESETS else name
        rows.append(row)
    base = rows[[n for n in names].index('authors')] if 'authors' in names else None
    for r in rows:
        if base:
            r['time_vs_authors'] = r['step_s'] / base['step_s']
            r['cpu_time_vs_authors'] = r['step_cpu_s'] / base['step_cpu_s']
            r['step_rss_vs_authors'] = r['step_rss_bytes'] / base['step_rss_bytes']
            r['step_live_vs_authors'] = r['step_live_bytes'] / base['step_live_bytes']
            r['saved_vs_authors'] = r['saved_bytes_per_clip'] / base['saved_bytes_per_clip']
    print_tables(args, rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=2)
    return rows


def print_tables(args, rows):
    gb = lambda v: f'{v / 1e9:.2f}'  # noqa: E731
    ratio = lambda r, k: f'{r[k]:.2f}x' if k in r else '-'  # noqa: E731
    memory = 'peak GPU alloc' if args.device == 'cuda' else 'peak RSS'
    print(
        f'\n{args.arch}, T={rows and geometry_note(args)}, device {args.device}'
        f'{" + AMP" if args.amp else ""}, batch {args.batch}, median of {args.steps} steps after '
        f'{args.warmup} warm-up, {args.repeat} alternating round(s) of fresh processes\n'
    )
    print(
        f'| config | step (s) | CPU s/step | {memory} (GB) | step above baseline (GB) '
        '| step live tensors (GB) | saved/clip (MB) | infer s/view | trainable (M) '
        "| time vs authors' | live memory vs authors' |"
    )
    print('|' + '---|' * 11)
    for r in rows:
        print(
            f'| {r["name"]} | {r["step_s"]:.2f} | {r["step_cpu_s"]:.2f} | '
            f'{gb(r["peak_train_bytes"])} | {gb(r["step_rss_bytes"])} | '
            f'{gb(r["step_live_bytes"])} | {r["saved_bytes_per_clip"] / 1e6:.0f} | '
            f'{r["infer_s_per_view"]:.3f} | {r["trainable_params"] / 1e6:.2f} | '
            f'{ratio(r, "time_vs_authors")} | {ratio(r, "step_live_vs_authors")} |'
        )
    print(
        f'\nProjected peak at batch {args.project_batch} with mixed precision (GB): parameters + '
        'buffers + optimizer state + inputs + (fixed + per-clip x batch) step live tensors\n'
    )
    print(
        '| config | params | grads | optimizer | saved/clip mixed (MB) | per clip (MB) | projected |'
    )
    print('|' + '---|' * 7)
    for r in rows:
        print(
            f'| {r["name"]} | {gb(r["param_bytes"])} | {gb(r["grad_bytes"])} | '
            f'{gb(r["optimizer_state_bytes"])} | {r["saved_bytes_per_clip_mixed"] / 1e6:.0f} | '
            f'{r["step_live_bytes_per_clip_mixed"] / 1e6:.0f} | '
            f'{gb(r["projected_gpu_peak_bytes"])} |'
        )


def geometry_note(args):
    T, n, img, _ = geometry(args)
    return f'{T}, n={n}, {img}x{img}'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--configs',
        nargs='*',
        default=['authors', 'tdsclip', 'tdsclip-reference', 'side4video', 'full-finetune'],
        choices=list(PRESETS),
        help='presets to run (rows)',
    )
    parser.add_argument(
        '--config', action='append', help='also run this config file as a row (repeatable)'
    )
    parser.add_argument('--arch', default='ViT-B/16', choices=sorted(ARCH_CONFIGS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--frames', type=int, default=None, help='T (default: the config)')
    parser.add_argument('--local-frames', type=int, default=None, help='n (default: the config)')
    parser.add_argument('--img-size', type=int, default=None, help='default: the config')
    parser.add_argument('--num-classes', type=int, default=None, help='default: the config')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=1, help='alternating rounds of all rows')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast + GradScaler on CUDA')
    parser.add_argument(
        '--compile', action='store_true', help='model.compile=True in every TDS-CLIP row'
    )
    parser.add_argument(
        '--frozen-fp16', action='store_true', help='fp16 instead of bf16 for the frozen branch'
    )
    parser.add_argument('--project-batch', type=int, default=32)
    parser.add_argument('--json', help='also write the rows as JSON here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == '__main__':
    args = parse_args()
    worker(args) if args.worker else run_all(args)
