"""Loading CLIP visual weights from files written in the real formats."""

import os
import pickle

import pytest
import torch
import torch.nn as nn

import mmaction_tdsclip  # noqa: F401
from mmaction_tdsclip.models import FrozenCLIPViT
from mmaction_tdsclip.weights import (
    CheckpointFormatError,
    read_state_dict,
    read_torchscript_state_dict,
)

TINY = dict(embed_dims=64, num_layers=2, num_heads=2, patch_size=16)


class OpenAIStyleCLIP(nn.Module):
    """A tiny model with OpenAI CLIP's top-level layout, visual and text parts."""

    def __init__(self, tower: FrozenCLIPViT) -> None:
        super().__init__()
        self.visual = tower
        tower.ln_post = nn.LayerNorm(tower.embed_dims)
        tower.proj = nn.Parameter(torch.randn(tower.embed_dims, 16))
        self.token_embedding = nn.Embedding(10, 16)
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, x):
        return self.visual.embed(x)[:, 0] @ self.visual.proj * self.logit_scale


def randomised_tower(act='quick_gelu'):
    torch.manual_seed(0)
    tower = FrozenCLIPViT(TINY, img_size=32, act_layer=act)
    with torch.no_grad():
        for p in tower.parameters():
            p.normal_(0, 0.2)
    return tower


def assert_same_visual(loaded, source, atol=0.0):
    src = source.state_dict()
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, src[k].to(v.dtype), atol=atol, rtol=0, msg=k)


def test_openai_torchscript_archive_loads_without_running_its_code(tmp_path):
    source = randomised_tower()
    scripted = torch.jit.trace(OpenAIStyleCLIP(source).half(), torch.randn(1, 3, 32, 32).half())
    path = str(tmp_path / 'ViT-tiny.pt')
    torch.jit.save(scripted, path)

    state = read_torchscript_state_dict(path)
    assert state['visual.conv1.weight'].dtype == torch.float16
    assert {'visual.proj', 'logit_scale', 'token_embedding.weight'} <= set(state)

    loaded = FrozenCLIPViT(TINY, img_size=32, pretrained=path)
    assert_same_visual(loaded, source.half())
    x = torch.randn(2, 3, 32, 32)
    ref = FrozenCLIPViT(TINY, img_size=32)
    ref.load_state_dict(
        {k: v.half().float() for k, v in source.state_dict().items() if k in ref.state_dict()}
    )
    for a, b in zip(loaded(x), ref(x)):
        torch.testing.assert_close(a, b)


def test_torchscript_reader_refuses_foreign_globals(tmp_path):
    source = randomised_tower()
    path = str(tmp_path / 'ts.pt')
    torch.jit.save(torch.jit.trace(OpenAIStyleCLIP(source), torch.randn(1, 3, 32, 32)), path)
    import zipfile

    patched = str(tmp_path / 'patched.pt')
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, 'w') as dst:
        for item in src.namelist():
            data = src.read(item)
            if item.endswith('/data.pkl') and item.count('/') == 1:
                data = pickle.dumps(_Exploit())
            dst.writestr(item, data)
    marker = tmp_path / 'pwned'
    _Exploit.marker = str(marker)
    with pytest.raises(pickle.UnpicklingError, match='Refusing to load'):
        read_torchscript_state_dict(patched)
    assert not marker.exists()


class _Exploit:
    marker = ''

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _tiny_open_clip():
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    model = open_clip.CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=16, image_size=32),
        text_cfg=CLIPTextCfg(context_length=8, vocab_size=50, width=32, heads=2, layers=1),
    )
    with torch.no_grad():
        for p in model.visual.parameters():
            p.normal_(0, 0.2)
    return model.eval()


@pytest.mark.parametrize('fmt', ['bin', 'safetensors', 'training_checkpoint'])
def test_open_clip_checkpoints_load_and_match_open_clip_outputs(tmp_path, fmt):
    clip = _tiny_open_clip()
    state = clip.state_dict()
    if fmt == 'bin':
        path = tmp_path / 'open_clip_pytorch_model.bin'
        torch.save(state, path)
    elif fmt == 'safetensors':
        from safetensors.torch import save_file

        path = tmp_path / 'open_clip_model.safetensors'
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / 'epoch_3.pt'
        torch.save(
            dict(
                epoch=3,
                name='tiny',
                state_dict={'module.' + k: v for k, v in state.items()},
                optimizer={},
            ),
            path,
        )
    ours = FrozenCLIPViT(TINY, img_size=32, act_layer='gelu', pretrained=str(path), use_sdpa=False)

    theirs = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: theirs.append(o))
        for b in clip.visual.transformer.resblocks
    ]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        clip.visual(x)
    for h in hooks:
        h.remove()
    for a, b in zip(ours(x), theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_mmpretrain_clip_vit_checkpoint_loads(tmp_path):
    from mmengine.registry import DefaultScope
    from mmpretrain.models import VisionTransformer

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        vit = VisionTransformer(
            arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256),
            img_size=32,
            patch_size=16,
            pre_norm=True,
            final_norm=False,
            out_type='raw',
            norm_cfg=dict(type='LN', eps=1e-5),
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
            patch_cfg=dict(bias=False),
        )
    vit.eval()  # mmpretrain's train() returns None, so no chaining
    path = tmp_path / 'mmpretrain_vit.pth'
    torch.save(
        dict(meta={}, state_dict={'backbone.' + k: v for k, v in vit.state_dict().items()}), path
    )
    ours = FrozenCLIPViT(TINY, img_size=32, pretrained=str(path))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        theirs = vit(x)[0]
    torch.testing.assert_close(ours(x)[-1], theirs, atol=1e-5, rtol=0)


def test_wrong_architecture_is_refused_with_the_mismatch(tmp_path):
    source = FrozenCLIPViT(dict(TINY, embed_dims=96, num_heads=3), img_size=32)
    path = tmp_path / 'wide.pth'
    torch.save({'visual.' + k: v for k, v in source.state_dict().items()}, path)
    with pytest.raises(CheckpointFormatError, match=r'width 96, 2 blocks, patch 16.*width 64'):
        FrozenCLIPViT(TINY, img_size=32, pretrained=str(path))


def test_missing_keys_are_named(tmp_path):
    state = {'visual.' + k: v for k, v in randomised_tower().state_dict().items()}
    del state['visual.transformer.resblocks.1.ln_2.bias']
    path = tmp_path / 'partial.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointFormatError, match='resblocks.1.ln_2.bias'):
        FrozenCLIPViT(TINY, img_size=32, pretrained=str(path))


def test_positional_embedding_is_resized_for_another_resolution(tmp_path):
    source = randomised_tower()
    path = tmp_path / 'w.pth'
    torch.save({'visual.' + k: v for k, v in source.state_dict().items()}, path)
    bigger = FrozenCLIPViT(TINY, img_size=64, pretrained=str(path))
    assert bigger.positional_embedding.shape == (17, 64)
    torch.testing.assert_close(bigger.positional_embedding[0], source.positional_embedding[0])


def test_code_executing_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    _Exploit.marker = str(marker)
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'visual.conv1.weight': _Exploit()}, f)
    with pytest.raises(CheckpointFormatError, match='weights_only=True'):
        read_state_dict(str(path))
    assert not marker.exists()
