"""Converting the authors' TDS-CLIP checkpoints and CLIP weights.

Ground truth is ``tests/reference/authors_tdsclip.py``, an independent
TDS-CLIP written from docs/model.md in the authors' module layout: a randomised
instance saved as ``{'epoch', 'model_state_dict', 'optimizer_state_dict'}``
stands in for a released checkpoint, and the converted weights must make
our recognizer reproduce its logits.
"""

import copy
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from reference.authors_tdsclip import AuthorsTDSCLIP, ResidualAttentionBlock, randomize_

import mmaction_tdsclip  # noqa: F401
from mmaction_tdsclip.constants import CLIP_MEAN, CLIP_STD
from mmaction_tdsclip.models.backbones.frozen_clip_vit import FrozenCLIPViT
from mmaction_tdsclip.weights import (
    CheckpointFormatError,
    config_mismatches,
    convert_official_state_dict,
    infer_official_config,
    is_official_checkpoint,
    recognizer_model_config,
)

init_default_scope('mmaction')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'convert_weights.py')
TINY = dict(
    width=64,
    layers=2,
    heads=2,
    patch_size=16,
    img_size=32,
    num_segments=4,
    side_width=64,
    num_classes=7,
)


def load_tool():
    spec = importlib.util.spec_from_file_location('convert_weights_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*argv):
    """Run the tool in-process; return its exit message, None when it succeeded."""
    tool = load_tool()
    try:
        tool.main([str(a) for a in argv])
    except SystemExit as exit_:
        return str(exit_.code)
    return None


def official_keys(width, layers, patch, tokens, side, n, use_td=True, use_sme=True, classes=174):
    """The authors' checkpoint keys and shapes, written out from the released layout (docs/weights.md)."""

    def bn(c):
        return {
            'weight': (c,),
            'bias': (c,),
            'running_mean': (c,),
            'running_var': (c,),
            'num_batches_tracked': (),
        }

    keys = {
        'visual.class_embedding': (width,),
        'visual.positional_embedding': (tokens + 1, width),
        'visual.conv1.weight': (width, 3, patch, patch),
        'visual.ln_pre.weight': (width,),
        'visual.ln_pre.bias': (width,),
        'visual.transformer.side_spatial_position_embeddings': (tokens, side),
        'visual.side_conv1.weight': (side, 3, 3, patch, patch),
        'visual.side_conv1.bias': (side,),
        'fc.weight': (classes, side),
        'fc.bias': (classes,),
    }
    keys.update({f'visual.side_pre_bn3d.{k}': s for k, s in bn(side).items()})
    keys.update({f'visual.side_post_bn.{k}': s for k, s in bn(side).items()})
    if use_sme:
        keys['visual.side_conv1_c5.weight'] = (side, 3 * (n - 1), 3, patch, patch)
        keys['visual.side_conv1_c5.bias'] = (side,)
        keys.update({f'visual.side_pre_bn3d_c5.{k}': s for k, s in bn(side).items()})
    for i in range(layers):
        r = f'visual.transformer.resblocks.{i}.'
        keys.update(
            {
                r + 'attn.in_proj_weight': (3 * width, width),
                r + 'attn.in_proj_bias': (3 * width,),
                r + 'attn.out_proj.weight': (width, width),
                r + 'attn.out_proj.bias': (width,),
                r + 'ln_1.weight': (width,),
                r + 'ln_1.bias': (width,),
                r + 'ln_2.weight': (width,),
                r + 'ln_2.bias': (width,),
                r + 'mlp.c_fc.weight': (4 * width, width),
                r + 'mlp.c_fc.bias': (4 * width,),
                r + 'mlp.c_proj.weight': (width, 4 * width),
                r + 'mlp.c_proj.bias': (width,),
                f'visual.transformer.side_lns.{i}.weight': (width,),
                f'visual.transformer.side_lns.{i}.bias': (width,),
                f'visual.transformer.side_linears.{i}.weight': (side, width),
                f'visual.transformer.side_linears.{i}.bias': (side,),
            }
        )
        s = f'visual.transformer.side_transformer.{i}.'
        keys.update({s + f'bn_1.{k}': v for k, v in bn(side).items()})
        keys.update({s + f'bn_2.{k}': v for k, v in bn(side).items()})
        keys.update(
            {
                s + 'conv.0.weight': (side, side, 1, 1, 1),
                s + 'conv.0.bias': (side,),
                s + 'conv.1.weight': (side, 1, 3, 1, 1),
                s + 'conv.1.bias': (side,),
                s + 'conv.2.weight': (side, side, 1, 1, 1),
                s + 'conv.2.bias': (side,),
                s + 'mlp.fc1.weight': (4 * side, side),
                s + 'mlp.fc1.bias': (4 * side,),
                s + 'mlp.fc2.weight': (side, 4 * side),
                s + 'mlp.fc2.bias': (side,),
                s + 'attn.in_proj_weight': (3 * side, side),
                s + 'attn.in_proj_bias': (3 * side,),
                s + 'attn.out_proj.weight': (side, side),
                s + 'attn.out_proj.bias': (side,),
                s + 'ln_1.weight': (side,),
                s + 'ln_1.bias': (side,),
            }
        )
        if use_td:
            keys[s + 'mse.conv1.weight'] = (side // 16, side, 1, 1)
            keys[s + 'mse.conv2.weight'] = (side, side // 16, 1, 1)
            keys.update({s + f'mse.bn1.{k}': v for k, v in bn(side // 16).items()})
            keys.update({s + f'mse.bn2.{k}': v for k, v in bn(side).items()})
    return keys


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def our_model_cfg(arch, img_size, side, num_segments, n, classes, **neck):
    return dict(
        type='TDSCLIPRecognizer',
        backbone=dict(type='FrozenCLIPViT', arch=arch, img_size=img_size, precision='fp32'),
        neck=dict(
            type='TDSSideNetwork',
            num_segments=num_segments,
            num_local_frames=n,
            side_dim=side,
            **neck,
        ),
        cls_head=dict(type='TDSHead', num_classes=classes, in_channels=side, average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', mean=CLIP_MEAN, std=CLIP_STD, format_shape='NCTHW'
        ),
    )


def tiny_cfg(n=5, **neck):
    arch = dict(
        embed_dims=TINY['width'],
        num_layers=TINY['layers'],
        num_heads=TINY['heads'],
        patch_size=TINY['patch_size'],
    )
    return our_model_cfg(
        arch,
        TINY['img_size'],
        TINY['side_width'],
        TINY['num_segments'],
        n,
        TINY['num_classes'],
        **neck,
    )


def tiny_reference(seed=0, n=5, use_td=True, use_sme=True):
    model = AuthorsTDSCLIP(num_local_frames=n, use_td=use_td, use_sme=use_sme, **TINY)
    return randomize_(model, torch.Generator().manual_seed(seed)).eval()


def save_authors_checkpoint(model, path, module_prefix=False):
    prefix = 'module.' if module_prefix else ''
    state = {prefix + k: v for k, v in model.state_dict().items()}
    optimizer = {
        'state': {0: {'step': torch.tensor(3.0), 'exp_avg': torch.zeros(3)}},
        'param_groups': [{'lr': 1e-3, 'params': [0]}],
    }
    torch.save({'epoch': 29, 'model_state_dict': state, 'optimizer_state_dict': optimizer}, path)


def clips(n, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(
        batch, 3, TINY['num_segments'] * n, TINY['img_size'], TINY['img_size'], generator=g
    )


def our_logits(model, video):
    model.eval()
    with torch.no_grad():
        return model.extract_feat(video[:, None], stage='head', test_mode=True)[0]


# ------------------------------------------------------------ key layouts
@pytest.mark.parametrize('arch', ['b16', 'l14'])
def test_reference_state_dict_has_the_released_key_layout(arch):
    dims = dict(b16=(768, 12, 12, 16, 196, 320), l14=(1024, 24, 16, 14, 256, 512))[arch]
    width, layers, heads, patch, tokens, side = dims
    with torch.device('meta'):
        ref = AuthorsTDSCLIP(width, layers, heads, patch, 224, 8, 5, side, 174)
    expected = official_keys(width, layers, patch, tokens, side, 5)
    assert shapes(ref.state_dict()) == expected
    # The released key lists hold 673 (B/16) and 1321 (L/14) visual.* entries.
    assert len([k for k in expected if k.startswith('visual.')]) == dict(b16=673, l14=1321)[arch]


@pytest.mark.parametrize('arch', ['ViT-B/16', 'ViT-L/14'])
def test_released_layout_converts_onto_every_recognizer_key(arch):
    width, layers, patch, tokens, side = {
        'ViT-B/16': (768, 12, 16, 196, 320),
        'ViT-L/14': (1024, 24, 14, 256, 512),
    }[arch]
    state = {
        k: torch.empty(s, device='meta')
        for k, s in official_keys(width, layers, patch, tokens, side, 5).items()
    }
    converted = convert_official_state_dict({'model_state_dict': state})
    with torch.device('meta'):
        ours = MODELS.build(our_model_cfg(arch, 224, side, 8, 5, 174))
    assert shapes(converted) == shapes(ours.state_dict())

    info = infer_official_config(state)
    assert info['arch'] == arch
    assert (info['side_dim'], info['num_local_frames'], info['num_classes']) == (side, 5, 174)
    assert (
        info['use_td']
        and info['use_sme']
        and info['td_layers'] is None
        and info['td_reduction'] == 16
    )
    assert config_mismatches(info, recognizer_model_config(info)) == []


# ------------------------------------------------------------ numerical equality
@pytest.mark.parametrize(
    'n,use_td,use_sme,module_prefix',
    [
        (5, True, True, False),
        (3, True, True, True),
        (5, False, True, False),
        (5, True, False, True),
        (3, False, False, False),
    ],
)
def test_converted_weights_reproduce_the_reference_logits(
    n, use_td, use_sme, module_prefix, tmp_path
):
    ref = tiny_reference(n=n, use_td=use_td, use_sme=use_sme)
    path = tmp_path / 'authors.pth'
    save_authors_checkpoint(ref, path, module_prefix)
    obj = torch.load(path, weights_only=True)
    assert is_official_checkpoint(obj)
    info = infer_official_config(obj)
    assert info['num_local_frames'] == (n if use_sme else None)
    assert (info['use_td'], info['use_sme']) == (use_td, use_sme)

    video = clips(n)
    with torch.no_grad():
        expected = ref(video)
    assert expected.abs().max() > 0.1
    # Both side-network code paths: the plain one and the memory-efficient token-layout one.
    for memory_efficient in (False, True):
        ours = MODELS.build(
            tiny_cfg(n, use_td=use_td, use_sme=use_sme, memory_efficient=memory_efficient)
        )
        ours.load_state_dict(convert_official_state_dict(obj), strict=True)
        torch.testing.assert_close(our_logits(ours, video), expected, atol=1e-4, rtol=0)


def test_tool_writes_an_mmengine_checkpoint_that_loads_strictly(tmp_path):
    ref = tiny_reference(seed=3)
    src, dst = tmp_path / 'authors.pth', tmp_path / 'converted.pth'
    save_authors_checkpoint(ref, src, module_prefix=True)
    result = subprocess.run(
        [sys.executable, TOOL, str(src), str(dst), '--num-segments', '4'],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert 'side width 64' in result.stdout and 'n = 5 local frames' in result.stdout

    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {'meta', 'state_dict'}
    assert saved['meta']['source_epoch'] == 29
    assert all(k.startswith(('backbone.', 'neck.', 'cls_head.')) for k in saved['state_dict'])
    ours = MODELS.build(tiny_cfg())
    load_checkpoint(ours, str(dst), strict=True)
    video = clips(5, seed=4)
    with torch.no_grad():
        expected = ref(video)
    torch.testing.assert_close(our_logits(ours, video), expected, atol=1e-4, rtol=0)


def test_partial_td_layers_are_inferred_and_load(tmp_path):
    ref = tiny_reference()
    state = {k: v for k, v in ref.state_dict().items() if '.side_transformer.0.mse.' not in k}
    info = infer_official_config(state)
    assert info['td_layers'] == [1]
    ours = MODELS.build(recognizer_model_config(info, num_segments=4))
    ours.load_state_dict(convert_official_state_dict(state), strict=True)
    assert ours.neck.blocks[0].td_adapter is None and ours.neck.blocks[1].td_adapter is not None


# ------------------------------------------------------------ refusals
def test_unknown_and_missing_keys_are_named():
    state = tiny_reference().state_dict()
    extra = dict(state, **{'visual.side_extra.weight': torch.zeros(1)})
    with pytest.raises(CheckpointFormatError, match='visual.side_extra.weight'):
        convert_official_state_dict(extra)
    missing = {
        k: v
        for k, v in state.items()
        if k != 'visual.transformer.side_transformer.1.attn.in_proj_bias'
    }
    with pytest.raises(CheckpointFormatError, match=r'neck\.blocks\.1\.attn\.in_proj_bias'):
        convert_official_state_dict(missing)
    clip_only = {k: v for k, v in state.items() if 'side' not in k and not k.startswith('fc.')}
    assert not is_official_checkpoint(clip_only)
    with pytest.raises(CheckpointFormatError, match='side_conv1'):
        convert_official_state_dict(clip_only)


def test_tool_refuses_a_checkpoint_for_another_architecture(tmp_path):
    src = tmp_path / 'authors.pth'
    save_authors_checkpoint(tiny_reference(), src)
    message = run_tool(src, tmp_path / 'out.pth', '--arch', 'ViT-B/16')
    assert message and 'embed_dims' in message and '768' in message and 'weights 64' in message

    config = tmp_path / 'model_cfg.py'
    config.write_text(f'model = {tiny_cfg(n=3)!r}\n')
    message = run_tool(src, tmp_path / 'out.pth', '--config', config)
    assert message and 'neck.num_local_frames: config 3, weights 5' in message
    other_backbone = tiny_cfg()
    other_backbone['backbone']['type'] = 'OpenCLIPViT'
    config.write_text(f'model = {other_backbone!r}\n')
    message = run_tool(src, tmp_path / 'out.pth', '--config', config)
    assert message and 'backbone type: config OpenCLIPViT' in message
    assert not (tmp_path / 'out.pth').exists()


def test_tool_accepts_a_fitting_config_whose_clip_file_is_absent(tmp_path):
    src = tmp_path / 'authors.pth'
    save_authors_checkpoint(tiny_reference(), src)
    fitting = tiny_cfg()
    fitting['backbone']['pretrained'] = str(tmp_path / 'not-downloaded' / 'ViT-B-16.pt')
    config = tmp_path / 'model_cfg.py'
    config.write_text(f'model = {fitting!r}\n')
    assert run_tool(src, tmp_path / 'out.pth', '--config', config) is None
    assert set(torch.load(tmp_path / 'out.pth', weights_only=True)) == {'meta', 'state_dict'}


def test_tool_lists_the_shipped_configs_that_fit(tmp_path, monkeypatch, capsys):
    src = tmp_path / 'authors.pth'
    save_authors_checkpoint(tiny_reference(), src)
    fits, other = tmp_path / 'fits_t4.py', tmp_path / 'other.py'
    fits.write_text(f'model = {tiny_cfg()!r}\n')
    other.write_text(f'model = {tiny_cfg(use_td=False)!r}\n')
    tool = load_tool()
    monkeypatch.setattr(tool, 'shipped_configs', lambda: [str(fits), str(other)])
    monkeypatch.setattr(tool, 'ROOT', str(tmp_path))
    tool.main([str(src), str(tmp_path / 'out.pth'), '--no-verify'])
    out = capsys.readouterr().out
    assert 'fits_t4.py  (T = 4)' in out and 'other.py' not in out


# ------------------------------------------------------------ CLIP weights
class OpenAIVisual(nn.Module):
    """OpenAI's ``VisionTransformer`` layout, projection head included."""

    def __init__(self, width=64, layers=2, heads=2, patch=16, img_size=32, out_dim=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * 0.1)
        self.positional_embedding = nn.Parameter(
            torch.randn((img_size // patch) ** 2 + 1, width) * 0.1
        )
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads) for _ in range(layers)]
        )
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out_dim) * 0.1)

    def tokens(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = (
            torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1)
            + self.positional_embedding
        )
        return self.transformer.resblocks(self.ln_pre(x).transpose(0, 1)).transpose(0, 1)

    def forward(self, x):
        return self.ln_post(self.tokens(x)[:, 0]) @ self.proj


class OpenAICLIP(nn.Module):
    """OpenAI's top level: ``visual`` plus text-side tensors the converter must drop."""

    def __init__(self):
        super().__init__()
        self.visual = OpenAIVisual()
        self.token_embedding = nn.Embedding(10, 16)
        self.ln_final = nn.LayerNorm(16)
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, x):
        return self.visual(x) * self.logit_scale


def test_openai_torchscript_clip_converts_and_loads(tmp_path):
    torch.manual_seed(0)
    clip = OpenAICLIP().eval()
    with torch.no_grad():
        for p in clip.parameters():
            p.normal_(0, 0.2)
    clip = clip.half()  # OpenAI releases fp16 weights
    src = tmp_path / 'ViT-tiny.pt'
    torch.jit.save(torch.jit.trace(clip, torch.randn(1, 3, 32, 32).half()), str(src))
    fp32_visual = copy.deepcopy(clip.visual).float()

    arch = dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=16)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = fp32_visual.tokens(images)
    for dst in (tmp_path / 'clip.pth', tmp_path / 'clip.safetensors'):
        message = run_tool(src, dst)
        assert message is None
        tower = FrozenCLIPViT(arch, img_size=32, pretrained=str(dst))
        torch.testing.assert_close(
            tower.conv1.weight, clip.visual.conv1.weight.float(), atol=0, rtol=0
        )
        torch.testing.assert_close(tower(images)[-1], expected, atol=1e-4, rtol=0)
    assert (
        torch.load(tmp_path / 'clip.pth', weights_only=True)['conv1.weight'].dtype == torch.float16
    )


def test_clip_weights_for_another_architecture_are_refused(tmp_path):
    clip = OpenAICLIP()
    src = tmp_path / 'open_clip_model.bin'
    torch.save(clip.state_dict(), src)
    message = run_tool(src, tmp_path / 'out.pth', '--arch', 'ViT-B/16')
    assert message and 'embed_dims' in message and '768' in message and 'weights 64' in message
    message = run_tool(src, tmp_path / 'out.pth', '--kind', 'official')
    assert message and 'side_conv1' in message
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('memory_efficient,with_cp', [(False, False), (True, False), (True, True)])
def test_training_step_matches_the_reference(memory_efficient, with_cp):
    """Train-mode logits, BatchNorm running statistics and gradients agree after conversion.

    With activation checkpointing the blocks run twice; their BatchNorm
    statistics must still be updated once.
    """
    ref = tiny_reference(seed=5).train()
    ours = MODELS.build(tiny_cfg(memory_efficient=memory_efficient, with_cp=with_cp))
    ours.load_state_dict(convert_official_state_dict(ref.state_dict()), strict=True)
    ours.train()
    video = clips(5, seed=6)
    target = torch.tensor([1, 4])

    ref_logits = ref(video)
    nn.functional.cross_entropy(ref_logits, target).backward()
    logits = ours.cls_head(ours.extract_feat(video[:, None])[0])
    nn.functional.cross_entropy(logits, target).backward()
    torch.testing.assert_close(logits, ref_logits, atol=1e-4, rtol=0)

    # Rename the reference's gradients (and its updated buffers) through the converter.
    grads = dict(ref.state_dict())
    grads.update(
        {
            k: p.grad if p.grad is not None else torch.zeros_like(p)
            for k, p in ref.named_parameters()
        }
    )
    expected = convert_official_state_dict(grads)
    own_params = dict(ours.named_parameters())
    own_buffers = dict(ours.named_buffers())
    checked = 0
    for key, value in expected.items():
        if key in own_params and own_params[key].requires_grad:
            torch.testing.assert_close(own_params[key].grad, value, atol=1e-4, rtol=1e-4, msg=key)
            checked += 1
        elif key in own_buffers:
            torch.testing.assert_close(own_buffers[key], value, atol=1e-5, rtol=1e-5, msg=key)
    assert checked == sum(p.requires_grad for p in ours.parameters())
