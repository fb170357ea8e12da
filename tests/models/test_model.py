"""Behaviour of the TDS-CLIP model against docs/model.md and independent computations."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmaction_tdsclip  # noqa: F401
from mmaction_tdsclip.constants import CLIP_MEAN, CLIP_STD
from mmaction_tdsclip.models import FrozenCLIPViT, SMEAdapter, TDAdapter, TDSSideNetwork
from mmaction_tdsclip.models.adapters import local_frame_differences
from mmaction_tdsclip.models.necks.side_projection import SideProjection
from mmaction_tdsclip.models.necks.tds_block import shift_class_tokens

init_default_scope('mmaction')

TINY_ARCH = dict(embed_dims=64, num_layers=3, num_heads=2, patch_size=16)


def tiny_model_cfg(num_segments=4, num_local_frames=5, num_classes=6, **neck):
    return dict(
        type='TDSCLIPRecognizer',
        backbone=dict(type='FrozenCLIPViT', arch=TINY_ARCH, img_size=32),
        neck=dict(
            type='TDSSideNetwork',
            num_segments=num_segments,
            num_local_frames=num_local_frames,
            side_dim=64,
            **neck,
        ),
        cls_head=dict(
            type='TDSHead',
            num_classes=num_classes,
            in_channels=64,
            label_smooth_eps=0.1,
            average_clips='prob',
        ),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=CLIP_MEAN, std=CLIP_STD, format_shape='NCTHW'
        ),
    )


def samples(labels):
    out = []
    for label in labels:
        s = ActionDataSample()
        s.set_gt_label(torch.as_tensor(label).reshape(-1))
        out.append(s)
    return out


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------- frozen tower
@pytest.mark.parametrize('quick_gelu', [False, True])
def test_frozen_tower_matches_open_clip_vit_b16(quick_gelu):
    import open_clip

    torch.manual_seed(0)
    clip = open_clip.create_model('ViT-B-16', force_quick_gelu=quick_gelu).eval()
    ours = FrozenCLIPViT(
        'ViT-B/16', act_layer='quick_gelu' if quick_gelu else 'gelu', use_sdpa=False
    )
    from mmaction_tdsclip.weights import load_visual_state_dict

    load_visual_state_dict(ours, {'visual.' + k: v for k, v in clip.visual.state_dict().items()})

    theirs = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: theirs.append(o))
        for b in clip.visual.transformer.resblocks
    ]
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        clip.visual(x)
    for h in hooks:
        h.remove()
    mine = ours(x)
    assert len(mine) == len(theirs) == 12
    for a, b in zip(mine, theirs):
        assert a.shape == (2, 197, 768)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # the fused attention kernels compute the same thing
    ours.use_sdpa = True
    for a, b in zip(ours(x), theirs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_frozen_tower_stays_frozen_and_in_eval():
    tower = FrozenCLIPViT(TINY_ARCH, img_size=32)
    tower.train()
    assert not tower.training and all(not m.training for m in tower.modules())
    assert trainable(tower) == 0
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    out = tower(x)
    assert all(not o.requires_grad and o.grad_fn is None for o in out)


def test_frozen_tower_bf16_close_to_fp32():
    torch.manual_seed(0)
    tower = FrozenCLIPViT(TINY_ARCH, img_size=32)
    x = torch.randn(2, 3, 32, 32)
    ref = tower(x)
    tower.precision = 'bf16'
    low = tower(x)
    for a, b in zip(low, ref):
        assert a.dtype == torch.bfloat16
        assert (a.float() - b).abs().max() < 0.1 * b.abs().max()


def test_unknown_preset_and_bad_img_size_fail_clearly():
    with pytest.raises(ValueError, match="Unknown FrozenCLIPViT arch 'ViT-X/9'"):
        FrozenCLIPViT('ViT-X/9')
    with pytest.raises(ValueError, match='not divisible by the patch size 16'):
        FrozenCLIPViT('ViT-B/16', img_size=200)


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    'arch,side_dim,td_sme,expected',
    [
        ('ViT-B/16', 320, True, 24.17),
        ('ViT-B/16', 320, False, 21.06),
        ('ViT-L/14', 512, True, 106.45),
        ('ViT-L/14', 512, False, 102.02),
    ],
)
def test_trainable_parameter_counts_match_the_paper(arch, side_dim, td_sme, expected):
    with torch.device('meta'):  # counting needs shapes, not values
        tower = FrozenCLIPViT(arch)
        neck = TDSSideNetwork(
            num_segments=8,
            num_local_frames=5,
            side_dim=side_dim,
            use_td=td_sme,
            use_sme=td_sme,
            in_channels=tower.embed_dims,
            num_layers=tower.num_layers,
            patch_size=tower.patch_size,
            grid_size=tower.grid_size,
        )
    assert round(trainable(neck) / 1e6, 2) == expected
    assert (
        round(sum(p.numel() for p in tower.parameters()) / 1e6, 2)
        == {'ViT-B/16': 85.80, 'ViT-L/14': 303.18}[arch]
    )


def test_adapter_parameter_counts_match_the_paper():
    assert sum(p.numel() for p in TDAdapter(320).parameters()) == 13480
    sme = SMEAdapter(320, 5, 16)
    assert round(sum(p.numel() for p in sme.conv.parameters()) / 1e6, 3) == 2.949


# ---------------------------------------------------------------- adapters, by independent computation
def test_td_adapter_matches_its_formula():
    torch.manual_seed(0)
    td = TDAdapter(32, reduction=16).eval()
    for bn in (td.bn1, td.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    z = torch.randn(2, 32, 5, 3, 3)
    out = td(z)

    def per_frame(conv, bn, x):  # x (C, H, W) -> conv1x1 then BN (eval)
        y = torch.einsum('oc,chw->ohw', conv.weight[:, :, 0, 0], x)
        return (y - bn.running_mean[:, None, None]) / torch.sqrt(
            bn.running_var[:, None, None] + bn.eps
        ) * bn.weight[:, None, None] + bn.bias[:, None, None]

    for b in range(2):
        zr = [per_frame(td.conv1, td.bn1, z[b, :, t]) for t in range(5)]
        for t in range(5):
            neighbours = [zr[s] for s in (t - 1, t, t + 1) if 0 <= s < 5]
            d = zr[t] - torch.stack(neighbours).amax(0)
            assert (d <= 0).all()
            y = 0.5 * d + 0.5 * d.mean(0, keepdim=True)
            g = torch.sigmoid(per_frame(td.conv2, td.bn2, y)) - 0.5
            torch.testing.assert_close(
                out[b, :, t], z[b, :, t] + z[b, :, t] * g, atol=1e-5, rtol=1e-5
            )


@pytest.mark.parametrize('mode', ['pool', 'conv', 'direct'])
@pytest.mark.parametrize('kernel', [3, 5, 7])
def test_td_adapter_modes_keep_shape(mode, kernel):
    out = TDAdapter(32, mode=mode, kernel_size=kernel)(torch.randn(2, 32, 8, 2, 2))
    assert out.shape == (2, 32, 8, 2, 2)


def test_local_frame_differences_channel_order():
    frames = torch.arange(2 * 3 * 5, dtype=torch.float).reshape(1, 2, 3, 5, 1, 1) ** 2
    diffs = local_frame_differences(frames)  # (1, 4*2, 3, 1, 1)
    assert diffs.shape == (1, 8, 3, 1, 1)
    for k in range(4):
        for c in range(2):
            for t in range(3):
                assert (
                    diffs[0, k * 2 + c, t, 0, 0]
                    == frames[0, c, t, k + 1, 0, 0] - frames[0, c, t, k, 0, 0]
                )


def test_class_token_shift():
    T, D = 3, 4
    cls = torch.arange(2 * T * D, dtype=torch.float).reshape(2 * T, 1, D) + 1
    out = shift_class_tokens(cls, T).reshape(2, T, D)
    c = cls.reshape(2, T, D)
    for b in range(2):
        for t in range(T):
            expect_first = c[b, t + 1, :2] if t + 1 < T else torch.zeros(2)
            expect_second = c[b, t - 1, 2:] if t > 0 else torch.zeros(2)
            assert torch.equal(out[b, t, :2], expect_first)
            assert torch.equal(out[b, t, 2:], expect_second)


def test_side_projection_memory_efficient_equals_plain():
    torch.manual_seed(0)
    lean = SideProjection(48, 16, memory_efficient=True)
    plain = copy.deepcopy(lean)
    plain.memory_efficient = False
    z = torch.randn(3, 5, 48)
    g = torch.randn(3, 5, 16)
    for m in (lean, plain):
        nn.init.normal_(m.norm.weight)
        nn.init.normal_(m.norm.bias)
    plain.load_state_dict(lean.state_dict())
    out_lean, out_plain = lean(z), plain(z)
    torch.testing.assert_close(out_lean, out_plain)
    (out_lean * g).sum().backward()
    (out_plain * g).sum().backward()
    for (name, a), b in zip(lean.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_side_network_init_follows_the_released_code():
    torch.manual_seed(0)
    neck = TDSSideNetwork(
        num_segments=2,
        num_local_frames=5,
        side_dim=640,
        in_channels=64,
        num_layers=2,
        patch_size=16,
        grid_size=(2, 2),
    )
    D = 640
    block = neck.blocks[0]
    assert abs(block.attn.in_proj_weight.std().item() - D**-0.5) < 0.05 * D**-0.5
    assert (
        abs(block.attn.out_proj.weight.std().item() - D**-0.5 * 24**-0.5)
        < 0.05 * D**-0.5 * 24**-0.5
    )
    assert abs(block.mlp.fc1.weight.std().item() - (2 * D) ** -0.5) < 0.05 * (2 * D) ** -0.5
    assert abs(block.mlp.fc2.weight.std().item() - D**-0.5 * 24**-0.5) < 0.05 * D**-0.5 * 24**-0.5
    for bias in (block.attn.in_proj_bias, block.attn.out_proj.bias):
        assert torch.count_nonzero(bias) == 0
    # The MLP biases keep nn.Linear's default U(-fan_in^-0.5, fan_in^-0.5), as released:
    # a uniform law on [-a, a] has std a / sqrt(3), and no entry leaves the interval.
    for bias, fan_in in ((block.mlp.fc1.bias, D), (block.mlp.fc2.bias, 4 * D)):
        bound = fan_in**-0.5
        assert bias.abs().max() <= bound
        assert abs(bias.std().item() - bound / 3**0.5) < 0.1 * bound / 3**0.5
    assert abs(neck.pos_embed.std().item() - 0.01) < 0.002
    for m in neck.modules():
        if isinstance(m, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm)):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


# ---------------------------------------------------------------- recognizer
def test_training_step_gradients_reach_side_network_only():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.train()
    x = torch.randn(2, 1, 3, 20, 32, 32)
    losses = model(x, samples([1, 2]), mode='loss')
    losses['loss_cls'].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    side = [(n, p) for n, p in model.named_parameters() if not n.startswith('backbone.')]
    assert side and all(p.requires_grad for _, p in side)
    missing = [n for n, p in side if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing


def test_repeated_augmentation_views_use_their_own_labels():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.train()
    x = torch.randn(2, 2, 3, 20, 32, 32)
    loss_two = model(x, samples([[1, 3], [2, 2]]), mode='loss')['loss_cls']
    feats, _ = model.extract_feat(x)
    logits = model.cls_head(feats)
    target = F.one_hot(torch.tensor([1, 3, 2, 2]), 6).float() * 0.9 + 0.1 / 6
    expected = -(target * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(loss_two, expected, atol=1e-5, rtol=1e-5)


def test_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(num_classes=3))
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randn(3, 1, 3, 20, 32, 32)
    data = samples([0, 1, 2])
    first = None
    for _ in range(15):
        loss = model(x, data, mode='loss')['loss_cls']
        optim.zero_grad()
        loss.backward()
        optim.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_multiview_prediction_averages_softmax_over_views():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg()).eval()
    x = torch.randn(2, 6, 3, 20, 32, 32)
    preds = model(x, samples([0, 1]), mode='predict')
    with torch.no_grad():
        logits = model.cls_head(model.extract_feat(x, test_mode=True)[0]).reshape(2, 6, -1)
    expected = logits.softmax(-1).mean(1)
    for p, e in zip(preds, expected):
        torch.testing.assert_close(p.pred_score, e, atol=1e-5, rtol=1e-5)
    # chunking views through the model gives the same scores
    model.test_cfg = dict(max_testing_views=4)
    chunked = model(x, samples([0, 1]), mode='predict')
    for p, q in zip(preds, chunked):
        torch.testing.assert_close(p.pred_score, q.pred_score, atol=1e-5, rtol=1e-5)


def test_only_centre_frames_reach_the_frozen_tower():
    model = MODELS.build(tiny_model_cfg(num_segments=2, num_local_frames=3)).eval()
    seen = []
    model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    x = torch.randn(1, 1, 3, 6, 32, 32)
    model.extract_feat(x, test_mode=True)
    torch.testing.assert_close(seen[0], torch.stack([x[0, 0, :, 1], x[0, 0, :, 4]]))


@pytest.mark.parametrize(
    'neck',
    [
        dict(use_td=False, use_sme=False),
        dict(num_local_frames=1),
        dict(num_local_frames=3),
        dict(td_mode='direct', td_layers=[0, 2]),
        dict(beta=1.0, td_kernel_size=5),
        dict(layer_interval=3),
    ],
)
def test_ablation_options_build_and_run(neck):
    cfg = tiny_model_cfg(**{'num_local_frames': 5, **neck})
    model = MODELS.build(cfg).eval()
    n = model.neck.num_local_frames
    out = model(torch.randn(1, 2, 3, 4 * n, 32, 32), samples([0]), mode='predict')
    assert out[0].pred_score.shape == (6,)
    if neck.get('num_local_frames') == 1:
        assert model.neck.sme is None
    if 'td_layers' in neck:
        assert [b.td_adapter is not None for b in model.neck.blocks] == [True, False, True]
    if neck.get('layer_interval') == 3:
        assert model.neck.side_layers == [2] and len(model.neck.blocks) == 1


def test_activation_checkpointing_matches_and_keeps_bn_stats():
    torch.manual_seed(0)
    plain = MODELS.build(tiny_model_cfg())
    cp = MODELS.build(tiny_model_cfg(with_cp=True))
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 3, 20, 32, 32)
    for m in (plain, cp):
        m.train()
        m(x, samples([0, 1]), mode='loss')['loss_cls'].backward()
    trained = [(n, a, b) for (n, a), b in zip(plain.named_parameters(), cp.parameters())]
    trained = [(n, a, b) for n, a, b in trained if a.requires_grad]
    assert trained
    for name, a, b in trained:
        # every trainable parameter gets a gradient in both models, and the same one
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)
    assert all(torch.count_nonzero(a.grad) > 0 for name, a, _ in trained if 'blocks' in name)
    for (name, a), b in zip(plain.named_buffers(), cp.buffers()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=name)


def test_wrong_frame_count_names_the_fields():
    model = MODELS.build(tiny_model_cfg()).eval()
    with pytest.raises(ValueError, match='model.neck.num_segments and model.neck.num_local_frames'):
        model(torch.randn(1, 1, 3, 16, 32, 32), samples([0]), mode='predict')


def test_neck_geometry_comes_from_backbone():
    cfg = tiny_model_cfg()
    cfg['neck']['in_channels'] = 99
    with pytest.raises(ValueError, match='model.neck.in_channels=99 disagrees with the backbone'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg()
    cfg['neck']['side_dim'] = 96
    cfg['cls_head']['in_channels'] = 96
    with pytest.raises(ValueError, match='64-wide attention heads'):
        MODELS.build(cfg)


# ---------------------------------------------------------------- extract_feat stages
def _direct_tower_tokens(tower, images):
    """Every block's output of the frozen tower, computed block by block."""
    outs = []
    with torch.no_grad():
        x = tower.embed(images)
        for block in tower.transformer.resblocks:
            x = block(x)
            outs.append(x)
    return outs


def test_extract_feat_stages_give_tokens_side_features_and_logits():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(num_segments=2, num_local_frames=3)).eval()
    B, V, T, n = 2, 3, 2, 3
    x = torch.randn(B, V, 3, T * n, 32, 32)
    # the centre frames, (B*V*T, 3, H, W) in view-major, then segment order
    centre = x[:, :, :, n // 2 :: n].permute(0, 1, 3, 2, 4, 5).reshape(B * V * T, 3, 32, 32)
    direct = _direct_tower_tokens(model.backbone, centre)

    tokens, kwargs = model.extract_feat(x, stage='backbone')
    assert kwargs == {} and isinstance(tokens, tuple) and len(tokens) == 3
    for got, ref in zip(tokens, direct):
        assert got.shape == (B * V, T, 2 * 2 + 1, 64)
        torch.testing.assert_close(got, ref.reshape(B * V, T, 5, 64), atol=1e-6, rtol=0)

    feats, _ = model.extract_feat(x, stage='neck')
    assert feats.shape == (B * V, 64, T, 2, 2)
    with torch.no_grad():
        expected = model.neck(x.flatten(0, 1), direct)
        torch.testing.assert_close(feats, expected, atol=1e-6, rtol=0)
        logits, _ = model.extract_feat(x, stage='head')
        fc = model.cls_head.fc_cls
        pooled = feats.flatten(2).mean(2)
        torch.testing.assert_close(logits, pooled @ fc.weight.t() + fc.bias, atol=1e-5, rtol=0)
    assert logits.shape == (B * V, 6)
    # MMAction2's tensor mode defaults to stage='backbone'
    with torch.no_grad():
        for a, b in zip(model(x, mode='tensor'), tokens):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(ValueError, match="stage='neckk' is not one of"):
        model.extract_feat(x, stage='neckk')


def test_extract_feat_backbone_stage_reads_only_the_side_layers_and_chunks():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(num_segments=2, num_local_frames=3, layer_interval=3))
    model.eval()
    x = torch.randn(1, 5, 3, 6, 32, 32)
    centre = x[0, :, :, 1::3].transpose(1, 2).reshape(10, 3, 32, 32)
    (tokens,), _ = model.extract_feat(x, stage='backbone', test_mode=True)
    torch.testing.assert_close(
        tokens, _direct_tower_tokens(model.backbone, centre)[2].reshape(5, 2, 5, 64)
    )
    model.test_cfg = dict(max_testing_views=2)
    (chunked,), _ = model.extract_feat(x, stage='backbone', test_mode=True)
    torch.testing.assert_close(chunked, tokens, atol=1e-6, rtol=0)


def test_input_is_checked_once_per_forward():
    model = MODELS.build(tiny_model_cfg())
    calls = []
    check = model.neck.check_input
    model.neck.check_input = lambda frames: (calls.append(frames.shape), check(frames))[1]
    x = torch.randn(2, 1, 3, 20, 32, 32)
    model.train()
    model(x, samples([0, 1]), mode='loss')
    assert len(calls) == 1
    model.eval()
    model(x, samples([0, 1]), mode='predict')
    assert len(calls) == 2


def test_mmaction2_feature_head_reads_the_side_features():
    """What MMAction2's tools/misc/clip_feature_extraction.py builds: FeatureHead on the neck."""
    torch.manual_seed(0)
    cfg = tiny_model_cfg()
    cfg['cls_head'] = dict(type='FeatureHead', spatial_type='avg', temporal_type='avg')
    cfg['cls_head']['average_clips'] = 'score'
    model = MODELS.build(cfg).eval()
    x = torch.randn(2, 3, 3, 20, 32, 32)
    out = model(x, samples([0, 1]), mode='predict')
    feats, _ = model.extract_feat(x, test_mode=True)
    expected = feats.mean(dim=(2, 3, 4)).reshape(2, 3, 64).mean(1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
