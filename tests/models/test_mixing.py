"""Mixing TDS-CLIP parts into other models from a config alone.

Frozen open_clip / mmpretrain ViT wrappers, adapter insertion after named
submodules (layouts, identity init, gradients), the SME motion stem, and the
example configs under ``configs/examples`` (one training iteration and a
multi-view test each, on tiny data with tiny backbones).
"""

import copy
import json
import os.path as osp
from pathlib import Path
from typing import Dict, List

import av
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmaction_tdsclip  # noqa: F401  (registration)
from mmaction_tdsclip.models.adapters import TDAdapter
from mmaction_tdsclip.models.utils import InsertedAdapter, insert_adapters, match_module_names

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / 'configs' / 'examples'

init_default_scope('mmaction')

OPEN_CLIP_TINY = 'mmaction-tdsclip-test-tiny-vit'
OPEN_CLIP_TINY_CFG = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=32, layers=4, width=64, patch_size=8, head_width=32),
    text_cfg=dict(context_length=8, vocab_size=64, width=32, heads=1, layers=1),
)

MMPRETRAIN_TINY = dict(
    type='mmpretrain.VisionTransformer',
    arch=dict(embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=128),
    img_size=32,
    patch_size=8,
    pre_norm=True,
    final_norm=False,
    layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
    out_type='raw',
    with_cls_token=True,
)


@pytest.fixture(scope='module')
def open_clip_tiny(tmp_path_factory) -> str:
    """Register a tiny random open_clip model config under a name."""
    import open_clip

    folder = tmp_path_factory.mktemp('open_clip_cfg')
    (folder / f'{OPEN_CLIP_TINY}.json').write_text(json.dumps(OPEN_CLIP_TINY_CFG))
    open_clip.add_model_config(folder)
    return OPEN_CLIP_TINY


def _hooked_block_outputs(blocks: nn.Module, run) -> List[torch.Tensor]:
    """Outputs of every block while ``run()`` executes the unwrapped model."""
    outs = []
    handles = [
        b.register_forward_hook(lambda m, a, o: outs.append(o.detach().clone())) for b in blocks
    ]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return outs


# ---------------------------------------------------------------- frozen ViTs


@pytest.mark.parametrize('by_name', [True, False], ids=['model_name', 'model_cfg'])
def test_open_clip_tokens_equal_unwrapped_blocks(open_clip_tiny, by_name, tmp_path):
    import open_clip

    torch.manual_seed(0)
    if by_name:
        # The unwrapped model, saved and loaded back by path (the wrapper's
        # own random init, drawn later, differs).
        full = open_clip.create_model(open_clip_tiny)
        source = full.visual.eval()
        torch.save(full.state_dict(), tmp_path / 'tiny.pt')
        vit = MODELS.build(
            dict(
                type='OpenCLIPViT', model_name=open_clip_tiny, pretrained=str(tmp_path / 'tiny.pt')
            )
        )
    else:
        vit = MODELS.build(dict(type='OpenCLIPViT', model_name=None, model_cfg=OPEN_CLIP_TINY_CFG))
        source = vit.visual
    assert (vit.embed_dims, vit.num_layers, vit.patch_size, tuple(vit.grid_size)) == (
        64,
        4,
        8,
        (4, 4),
    )
    assert not any(p.requires_grad for p in vit.parameters())
    vit.train()
    assert not vit.training and not vit.visual.training

    images = torch.randn(3, 3, 32, 32)
    expected = _hooked_block_outputs(source.transformer.resblocks, lambda: source(images))
    tokens = vit(images)
    assert len(tokens) == 4
    for got, ref in zip(tokens, expected):
        assert got.shape == (3, 17, 64) and not got.requires_grad
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    subset = vit(images, out_layers=[1, 3])
    torch.testing.assert_close(subset[0], expected[1], rtol=0, atol=0)
    torch.testing.assert_close(subset[1], expected[3], rtol=0, atol=0)
    with pytest.raises(ValueError, match='inputs'):
        vit(torch.randn(1, 3, 48, 48))


def test_mmpretrain_tokens_equal_unwrapped_blocks_and_load(tmp_path):
    torch.manual_seed(0)
    vit = MODELS.build(dict(type='MMPretrainViT', backbone=MMPRETRAIN_TINY))
    assert (vit.embed_dims, vit.num_layers, vit.patch_size, tuple(vit.grid_size)) == (
        64,
        4,
        8,
        (4, 4),
    )
    assert not any(p.requires_grad for p in vit.parameters())
    # The QuickGELU of the config was resolved in mmpretrain's scope.
    assert type(vit.vit.layers[0].ffn.layers[0][1]).__name__ == 'QuickGELU'

    images = torch.randn(2, 3, 32, 32)
    expected = _hooked_block_outputs(vit.vit.layers, lambda: vit.vit(images))
    tokens = vit(images)
    assert len(tokens) == 4
    for got, ref in zip(tokens, expected):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    # The raw tower output of the last block is the unwrapped 'raw' output.
    with torch.no_grad():
        torch.testing.assert_close(tokens[-1], vit.vit(images)[-1], rtol=0, atol=0)

    # A classifier checkpoint: backbone keys under 'backbone.', plus a head.
    state = {'backbone.' + k: v for k, v in vit.vit.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(3, 64)
    torch.save({'meta': {'epoch': 1}, 'state_dict': state}, tmp_path / 'cls.pth')
    torch.manual_seed(1)
    loaded = MODELS.build(
        dict(type='MMPretrainViT', backbone=MMPRETRAIN_TINY, pretrained=str(tmp_path / 'cls.pth'))
    )
    for got, ref in zip(loaded(images), tokens):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)


def _tds_recognizer(backbone: Dict, layer_interval: int):
    return MODELS.build(
        dict(
            type='TDSCLIPRecognizer',
            backbone=backbone,
            neck=dict(
                type='TDSSideNetwork',
                num_segments=2,
                num_local_frames=3,
                side_dim=64,
                layer_interval=layer_interval,
            ),
            cls_head=dict(type='TDSHead', num_classes=3, in_channels=64),
            data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCTHW'),
        )
    )


@pytest.mark.parametrize('kind', ['open_clip', 'mmpretrain'])
def test_layer_interval_on_other_backbones(open_clip_tiny, kind):
    backbone = (
        dict(type='OpenCLIPViT', model_name=open_clip_tiny)
        if kind == 'open_clip'
        else dict(type='MMPretrainViT', backbone=MMPRETRAIN_TINY)
    )
    full = _tds_recognizer(backbone, 1)
    half = _tds_recognizer(backbone, 2)
    assert len(full.neck.blocks) == len(full.neck.projections) == 4
    assert len(half.neck.blocks) == len(half.neck.projections) == 2
    assert half.neck.side_layers == [1, 3]
    # Geometry came from the backbone.
    assert half.neck.projections[0].norm.normalized_shape == (64,)
    assert half.neck.grid_size == (4, 4) and half.neck.patch_size == 8

    torch.manual_seed(0)
    inputs = torch.randn(2, 1, 3, 6, 32, 32)
    seen = {}
    half.neck.register_forward_pre_hook(lambda m, args: seen.update(features=args[1]))
    samples = [ActionDataSample().set_gt_label(i) for i in range(2)]
    losses = half.loss(inputs, samples)
    losses['loss_cls'].backward()
    centre = (
        inputs[:, 0].reshape(2, 3, 2, 3, 32, 32)[:, :, :, 1].transpose(1, 2).reshape(4, 3, 32, 32)
    )
    all_layers = half.backbone(centre)
    assert len(seen['features']) == 2
    torch.testing.assert_close(seen['features'][0], all_layers[1], rtol=0, atol=0)
    torch.testing.assert_close(seen['features'][1], all_layers[3], rtol=0, atol=0)
    assert all(p.grad is not None for p in half.neck.parameters())
    assert all(p.grad is None for p in half.backbone.parameters())


# ---------------------------------------------------------- adapter insertion


def test_match_module_names_globs_and_regex():
    model = MODELS.build(
        dict(type='ResNetTSM', depth=18, num_segments=2, pretrained=None, pretrained2d=False)
    )
    conv2 = match_module_names(model, 'layer*.*.conv2')
    assert conv2 == [f'layer{s}.{b}.conv2' for s in range(1, 5) for b in range(2)]
    # '*' stays within one dotted segment.
    assert match_module_names(model, 'layer2.*.conv') == []
    assert 'layer2.0.downsample.conv' in match_module_names(model, 'layer*.*.downsample.conv')
    assert match_module_names(model, r're:layer[13]\.1\.conv2') == [
        'layer1.1.conv2',
        'layer3.1.conv2',
    ]
    with pytest.raises(ValueError, match='matches no submodule'):
        insert_adapters(model, [dict(after='blocks.*', layout='NCHW-frames')])


class _AddPattern(nn.Module):
    """Adds a fixed (C, T, H, W) pattern: where each value lands identifies the layout conversion."""

    def __init__(self, pattern: torch.Tensor) -> None:
        super().__init__()
        self.pattern = pattern

    def forward(self, x):
        assert x.shape[1:] == self.pattern.shape
        return x + self.pattern


@pytest.mark.parametrize(
    'layout,order',
    [
        ('NCTHW', 'tn'),
        ('NCHW-frames', 'tn'),
        ('tokens', 'tn'),
        ('video-tokens', 'tn'),
        ('video-tokens', 'nt'),
    ],
)
def test_layout_conversions_against_explicit_indexing(layout, order):
    B, C, T, h, w, E = 2, 5, 3, 2, 4, 1
    pattern = torch.randn(C, T, h, w)
    wrapper = InsertedAdapter(
        _AddPattern(pattern),
        'host',
        layout,
        num_segments=T,
        num_extra_tokens=E if 'tokens' in layout else 0,
        grid_size=(h, w),
        token_order=order,
    )
    if layout == 'NCTHW':
        x = torch.randn(B, C, T, h, w)
        expected = x + pattern
    elif layout == 'NCHW-frames':
        x = torch.randn(B * T, C, h, w)
        expected = x.clone()
        for b in range(B):
            for t in range(T):
                expected[b * T + t] += pattern[:, t]
    elif layout == 'tokens':
        x = torch.randn(B * T, E + h * w, C)
        expected = x.clone()
        for b in range(B):
            for t in range(T):
                for i in range(h):
                    for j in range(w):
                        expected[b * T + t, E + i * w + j] += pattern[:, t, i, j]
    else:
        N = h * w
        x = torch.randn(B, E + T * N, C)
        expected = x.clone()
        for t in range(T):
            for i in range(h):
                for j in range(w):
                    p = i * w + j
                    index = t * N + p if order == 'tn' else p * T + t
                    expected[:, E + index] += pattern[:, t, i, j]
    torch.testing.assert_close(wrapper(x), expected, rtol=0, atol=1e-6)


def _slowonly18() -> Dict:
    return dict(
        type='ResNet3dSlowOnly',
        depth=18,
        pretrained=None,
        pretrained2d=False,
        lateral=False,
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1),
        base_channels=16,
    )


def _tiny_backbone_cases() -> Dict[str, Dict]:
    """Stock backbones with adapters after named submodules, and their inputs."""
    return dict(
        tsm=dict(
            backbone=dict(
                type='ResNetTSM', depth=18, num_segments=2, pretrained=None, pretrained2d=False
            ),
            adapters=[dict(after='layer*.*.conv2', layout='NCHW-frames')],
            count=8,
            inputs=(4, 3, 32, 32),
        ),
        slowonly=dict(
            # zero_init_residual would zero the hosts' outputs (their BN) at init.
            backbone=dict(_slowonly18(), zero_init_residual=False),
            adapters=[dict(after='re:layer[34]\\.0\\.conv2', layout='NCTHW', mode='conv')],
            count=2,
            inputs=(2, 3, 4, 32, 32),
        ),
        timesformer=dict(
            backbone=dict(
                type='TimeSformer',
                num_frames=4,
                img_size=32,
                patch_size=8,
                embed_dims=64,
                num_heads=2,
                num_transformer_layers=2,
                attention_type='divided_space_time',
                pretrained=None,
            ),
            adapters=[
                dict(
                    after='transformer_layers.layers.*.attentions.0',
                    layout='video-tokens',
                    token_order='nt',
                    num_extra_tokens=1,
                )
            ],
            count=2,
            inputs=(2, 3, 4, 32, 32),
        ),
        vit_frames=dict(
            backbone=dict(
                MMPRETRAIN_TINY,
                arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128),
                _scope_='mmpretrain',
                type='VisionTransformer',
            ),
            adapters=[dict(after='layers.*', layout='tokens', num_segments=4, num_extra_tokens=1)],
            count=2,
            inputs=(8, 3, 32, 32),
        ),
    )


def _first_tensor(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


def _adapter_loss(wrapped: nn.Module, x: torch.Tensor) -> None:
    wrapped.train()
    for p in wrapped.parameters():
        p.grad = None
    _first_tensor(wrapped(x)).pow(2).mean().backward()


@pytest.mark.parametrize('case', sorted(_tiny_backbone_cases()))
def test_inserted_adapters_identity_init_and_gradients(case):
    spec = _tiny_backbone_cases()[case]
    torch.manual_seed(0)
    original = MODELS.build(copy.deepcopy(spec['backbone']))
    original.eval()  # some stock backbones' train() returns None
    adapters = [dict(a, identity_init=True) for a in spec['adapters']]
    wrapped = MODELS.build(
        dict(type='AdapterInsertedBackbone', backbone=spec['backbone'], adapters=adapters)
    )
    assert len(wrapped.adapters) == spec['count']
    assert all(isinstance(inserted.adapter, TDAdapter) for inserted in wrapped.adapters.values())
    # The backbone's parameter names are untouched by the insertion.
    wrapped.backbone.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(*spec['inputs'])
    with torch.no_grad():
        reference = _first_tensor(original(x))
        wrapped.eval()
        torch.testing.assert_close(_first_tensor(wrapped(x)), reference, rtol=0, atol=0)

    # At the identity init the zeroed bn2 is what learns first.
    _adapter_loss(wrapped, x)
    for name, inserted in wrapped.adapters.items():
        assert inserted.adapter.bn2.weight.grad.abs().sum() > 0, name

    # With bn2 at PyTorch's default (weight 1) the adapters change the
    # output and every part of them gets a gradient.
    for inserted in wrapped.adapters.values():
        nn.init.ones_(inserted.adapter.bn2.weight)
    with torch.no_grad():
        wrapped.eval()
        assert not torch.allclose(_first_tensor(wrapped(x)), reference)
    _adapter_loss(wrapped, x)
    for name, inserted in wrapped.adapters.items():
        td = inserted.adapter
        assert all(p.grad is not None for p in td.parameters())
        # bn1.bias is not checked: a per-channel constant cancels in Zr - P.
        for p in (td.conv1.weight, td.bn1.weight, td.conv2.weight, td.bn2.weight, td.bn2.bias):
            assert p.grad.abs().sum() > 0, name


def test_identity_survives_init_weights_and_deepcopy():
    spec = _tiny_backbone_cases()['tsm']
    wrapped = MODELS.build(
        dict(
            type='AdapterInsertedBackbone',
            backbone=spec['backbone'],
            adapters=[dict(a, identity_init=True) for a in spec['adapters']],
        )
    )
    for inserted in wrapped.adapters.values():
        nn.init.ones_(inserted.adapter.bn2.weight)
    # The runner's init_weights re-applies the identity init after the backbone's own.
    wrapped.init_weights()
    assert all(
        inserted.adapter.bn2.weight.abs().sum() == 0 for inserted in wrapped.adapters.values()
    )

    wrapped.eval()
    twin = copy.deepcopy(wrapped)
    x = torch.randn(*spec['inputs'])
    with torch.no_grad():
        before = wrapped(x)
        for inserted in twin.adapters.values():
            nn.init.ones_(inserted.adapter.bn2.weight)
        torch.testing.assert_close(wrapped(x), before, rtol=0, atol=0)
        assert not torch.allclose(twin(x), before)


# ------------------------------------------------------------- motion stem


def test_motion_stem_adds_beta_sme_after_the_stem():
    torch.manual_seed(0)
    T, n = 3, 5
    model = MODELS.build(
        dict(
            type='MotionStemBackbone',
            backbone=_slowonly18(),
            after='maxpool',
            num_local_frames=n,
            beta=0.5,
        )
    ).eval()
    sme = model.sme
    assert sme.conv.in_channels == 4 * 3 and sme.conv.out_channels == 16
    assert sme.conv.stride == (1, 4, 4)
    nn.init.normal_(sme.bn.running_mean)
    nn.init.uniform_(sme.bn.running_var, 0.5, 2.0)

    x = torch.randn(2, 3, T * n, 32, 32)
    seen = {}
    model.backbone.layer1.register_forward_pre_hook(lambda m, args: seen.update(layer1_in=args[0]))
    with torch.no_grad():
        out = model(x)
        centre = x[:, :, [t * n + n // 2 for t in range(T)]]
        stem = model.backbone.maxpool(model.backbone.conv1(centre))
        diffs = torch.cat(
            [
                x[:, :, [t * n + k + 1 for t in range(T)]] - x[:, :, [t * n + k for t in range(T)]]
                for k in range(n - 1)
            ],
            dim=1,
        )
        motion = F.conv3d(
            diffs, sme.conv.weight, sme.conv.bias, stride=(1, 4, 4), padding=(1, 3, 3)
        )
        bn = sme.bn
        motion = (motion - bn.running_mean[:, None, None, None]) / torch.sqrt(
            bn.running_var[:, None, None, None] + bn.eps
        ) * bn.weight[:, None, None, None] + bn.bias[:, None, None, None]
    torch.testing.assert_close(seen['layer1_in'], stem + 0.5 * motion, rtol=1e-5, atol=1e-5)
    assert out.shape == (2, 128, T, 1, 1)


def test_motion_stem_zero_init_is_identity_and_trains():
    torch.manual_seed(0)
    n = 3
    original = MODELS.build(_slowonly18())
    original.eval()
    model = MODELS.build(
        dict(
            type='MotionStemBackbone',
            backbone=_slowonly18(),
            after='maxpool',
            num_local_frames=n,
            zero_init=True,
        )
    )
    model.init_weights()
    model.backbone.load_state_dict(original.state_dict())
    assert model.sme.bn.weight.abs().sum() == 0
    x = torch.randn(2, 3, 4 * n, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), original(x[:, :, n // 2 :: n]), rtol=0, atol=0)
    model.train()
    model(x).pow(2).mean().backward()
    assert model.sme.bn.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='T\\*n frames'):
        model(torch.randn(1, 3, 4 * n + 1, 32, 32))


def test_motion_stem_reads_x3d_stem_geometry():
    model = MODELS.build(
        dict(
            type='MotionStemBackbone',
            backbone=dict(type='X3D', gamma_w=0.5, gamma_b=1, gamma_d=1, pretrained=None),
            after='conv1_t',
            num_local_frames=3,
        )
    )
    assert model.sme.conv.stride == (1, 2, 2)
    assert model.sme.conv.out_channels == model.backbone.conv1_t.conv.out_channels
    out = model(torch.randn(1, 3, 12, 32, 32))
    assert out.shape[2] == 4


# ----------------------------------------------------------- example configs


def _write_video(path: Path, frames: int, height: int, width: int, seed: int) -> None:
    rng = np.random.RandomState(seed)
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('mpeg4', rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for _ in range(frames):
            image = rng.randint(0, 256, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope='module')
def tiny_videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('mixing_videos')
    lines = []
    for i in range(2):
        _write_video(root / f'v{i}.mp4', 24, 48, 64, seed=i)
        lines.append(f'v{i}.mp4 {i}')
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')
    return root


SIZE_KEYS = ('scale', 'crop_size', 'input_size', 'size', 'scale_range')


def _shrink(value, factor):
    if isinstance(value, (tuple, list)):
        return type(value)(_shrink(v, factor) for v in value)
    if isinstance(value, int) and value > 0:
        return int(round(value * factor))
    return value


def _rewrite_pipeline(pipeline, factor: float, by_type: Dict[str, Dict]) -> None:
    """Scale every spatial size by ``factor`` and apply per-transform overrides in place."""
    for transform in pipeline:
        for key in SIZE_KEYS:
            if key in transform:
                transform[key] = _shrink(transform[key], factor)
        transform.update(by_type.get(transform['type'], {}))
        if transform['type'] == 'RepeatAugment':
            _rewrite_pipeline(transform['transforms'], factor, by_type)


TDS_TINY = {
    'model.neck.num_segments': 2,
    'model.neck.num_local_frames': 3,
    'model.neck.side_dim': 64,
    'model.cls_head.in_channels': 64,
}
TDS_PIPELINE = {'SampleTDSFrames': dict(num_segments=2, num_local_frames=3)}

EXAMPLE_CASES = {
    'tdsclip_mmpretrain-clip-vit-b16_8xb16-u8x5-30e_kinetics400-rgb.py': (
        dict(
            TDS_TINY,
            **{
                'model.backbone.backbone.arch': dict(
                    embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128
                ),
                'model.backbone.backbone.img_size': 32,
                'model.backbone.backbone.patch_size': 8,
            },
        ),
        TDS_PIPELINE,
    ),
    'side4video_clip-vit-b16_8xb16-u8x1-30e_sthv2-rgb.py': (
        {
            'model.backbone.arch': dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=8),
            'model.backbone.img_size': 32,
            'model.backbone.pretrained': None,
            'model.neck.num_segments': 2,
            'model.neck.side_dim': 64,
            'model.cls_head.in_channels': 64,
        },
        {'SampleTDSFrames': dict(num_segments=2)},
    ),
    'tdsclip_open-clip-vit-b16_8xb16-u8x5-30e_sthv2-rgb.py': (
        dict(
            TDS_TINY,
            **{
                'model.backbone.model_name': OPEN_CLIP_TINY,
                'model.backbone.pretrained': None,
                'model.backbone.img_size': 32,
            },
        ),
        TDS_PIPELINE,
    ),
    'tsm_imagenet-pretrained-r50_td-adapters_8xb16-1x1x8-50e_sthv2-rgb.py': (
        {
            'model.backbone.backbone.depth': 18,
            'model.backbone.backbone.pretrained': None,
            'model.backbone.backbone.pretrained2d': False,
            'model.backbone.backbone.num_segments': 2,
            'model.cls_head.num_segments': 2,
            'model.cls_head.in_channels': 512,
        },
        {'SampleFrames': dict(num_clips=2)},
    ),
    'timesformer_imagenet-pretrained-divst-vit-b16_td-adapters_8xb8-8x32x1-15e_kinetics400-rgb.py': (
        {
            'model.backbone.backbone.pretrained': None,
            'model.backbone.backbone.num_frames': 4,
            'model.backbone.backbone.img_size': 32,
            'model.backbone.backbone.patch_size': 8,
            'model.backbone.backbone.embed_dims': 64,
            'model.backbone.backbone.num_heads': 2,
            'model.backbone.backbone.num_transformer_layers': 2,
            'model.cls_head.in_channels': 64,
        },
        {'SampleFrames': dict(clip_len=4, frame_interval=2)},
    ),
    'slowonly_imagenet-pretrained-r50_sme-stem_8xb16-u8x5-64e_sthv2-rgb.py': (
        {
            'model.backbone.backbone.depth': 18,
            'model.backbone.backbone.pretrained': None,
            'model.backbone.backbone.pretrained2d': False,
            'model.backbone.backbone.base_channels': 16,
            'model.backbone.num_local_frames': 3,
            'model.cls_head.in_channels': 128,
        },
        {'SampleTDSFrames': dict(num_segments=2, num_local_frames=3)},
    ),
}


def test_every_example_config_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob('*.py')) == sorted(EXAMPLE_CASES)


@pytest.mark.parametrize('name', sorted(EXAMPLE_CASES))
def test_example_config_trains_and_tests(name, tiny_videos, open_clip_tiny, tmp_path):
    model_overrides, pipeline_overrides = EXAMPLE_CASES[name]
    cfg = Config.fromfile(str(EXAMPLES / name))
    assert cfg.custom_imports == dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)
    assert cfg.default_scope == 'mmaction'
    for key, value in model_overrides.items():
        *path, last = key.split('.')
        node = cfg
        for part in path:
            node = node[part]
        node[last] = value
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        # serialize_data=False skips a gc.collect() per dataset build.
        loader.dataset.update(
            ann_file=str(tiny_videos / 'list.txt'),
            data_prefix=dict(video=str(tiny_videos)),
            serialize_data=False,
        )
        _rewrite_pipeline(loader.dataset.pipeline, 32 / 224, pipeline_overrides)
    cfg.train_cfg.update(max_epochs=1, val_begin=2)
    # Full precision on CPU; keep the schedulers with an explicit end (a
    # cosine without one ends at max_epochs, here before it starts).
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.param_scheduler = [s for s in cfg.param_scheduler if 'end' in s]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'mixing_{osp.splitext(name)[0]}'
    cfg.log_level = 'WARNING'

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss) and loss > 0

    # One multi-view test iteration through the config's test pipeline.
    batch = next(iter(runner.build_dataloader(cfg.test_dataloader)))
    assert all(x.shape[0] > 1 for x in batch['inputs']), (
        'the test pipeline should give several views'
    )
    predictions = runner.model.test_step(batch)
    assert len(predictions) == 2
    for sample in predictions:
        assert sample.pred_score.shape == (cfg.model.cls_head.num_classes,)
        torch.testing.assert_close(sample.pred_score.sum(), torch.tensor(1.0), rtol=0, atol=1e-4)
