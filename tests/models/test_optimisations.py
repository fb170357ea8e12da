"""Each speed/memory switch stays within a stated tolerance of the reference mode.

Reference mode is the plain computation the switches are measured against:
fp32 everywhere, explicit softmax attention, no memory-saving layout
(``memory_efficient=False``). It gives the authors' numbers (the converted
checkpoint tests compare it with an independent implementation of their
model); ``tools/authors_model.py`` computes them the way their code does.

Tolerances:
* fp32 switches (SDPA, lean activations, activation checkpointing): class
  probabilities within 1e-4 absolute, gradients within 1e-3 of their
  largest magnitude (+1e-6).
* bf16 switches (frozen branch, side autocast): class probabilities within
  0.02 absolute, loss within 2 % relative.
"""

import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmaction_tdsclip  # noqa: F401
from mmaction_tdsclip.models import TDAdapter

init_default_scope('mmaction')

REFERENCE = dict(
    backbone=dict(precision='fp32', use_sdpa=False),
    neck=dict(memory_efficient=False, use_sdpa=False, side_precision='fp32', with_cp=False),
)


def build(backbone=None, neck=None, seed=0):
    cfg = dict(
        type='TDSCLIPRecognizer',
        backbone=dict(
            type='FrozenCLIPViT',
            arch=dict(embed_dims=64, num_layers=3, num_heads=2, patch_size=16),
            img_size=32,
            **(backbone or {}),
        ),
        neck=dict(
            type='TDSSideNetwork', num_segments=4, num_local_frames=5, side_dim=128, **(neck or {})
        ),
        cls_head=dict(
            type='TDSHead',
            num_classes=5,
            in_channels=128,
            label_smooth_eps=0.1,
            average_clips='prob',
        ),
    )
    torch.manual_seed(seed)
    return MODELS.build(cfg)


def samples(n):
    out = []
    for i in range(n):
        s = ActionDataSample()
        s.set_gt_label(torch.tensor([i % 5]))
        out.append(s)
    return out


def run(model, x):
    """Loss, its parameter gradients, train-mode logits and eval-mode probabilities."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = model(x, samples(x.shape[0]), mode='loss')['loss_cls']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.eval()
    probs = torch.stack([p.pred_score for p in model(x, samples(x.shape[0]), mode='predict')])
    return loss.detach(), grads, probs


def pair(**switch):
    ref = build(**REFERENCE)
    opt = build(
        backbone={**REFERENCE['backbone'], **switch.get('backbone', {})},
        neck={**REFERENCE['neck'], **switch.get('neck', {})},
    )
    opt.load_state_dict(ref.state_dict())
    x = torch.randn(3, 1, 3, 20, 32, 32)
    return run(ref, x), run(opt, x), (ref, opt)


@pytest.mark.parametrize(
    'switch',
    [
        dict(backbone=dict(use_sdpa=True), neck=dict(use_sdpa=True)),
        dict(neck=dict(memory_efficient=True)),
        dict(neck=dict(with_cp=True)),
        dict(
            backbone=dict(use_sdpa=True),
            neck=dict(use_sdpa=True, memory_efficient=True, with_cp=True),
        ),
    ],
)
def test_fp32_switches_match_reference(switch):
    (loss_r, grads_r, probs_r), (loss_o, grads_o, probs_o), (ref, opt) = pair(**switch)
    torch.testing.assert_close(loss_o, loss_r, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(probs_o, probs_r, atol=1e-4, rtol=0)
    assert grads_r.keys() == grads_o.keys()
    for name in grads_r:
        # biases feeding a BatchNorm have an exactly-zero true gradient: hence the absolute floor
        scale = grads_r[name].abs().max()
        assert (grads_o[name] - grads_r[name]).abs().max() <= 1e-3 * scale + 1e-6, name
    for (name, a), b in zip(ref.named_buffers(), opt.buffers()):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize(
    'switch',
    [
        dict(backbone=dict(precision='bf16')),
        dict(neck=dict(side_precision='bf16')),
        dict(
            backbone=dict(precision='bf16', use_sdpa=True),
            neck=dict(side_precision='bf16', use_sdpa=True, memory_efficient=True),
        ),
    ],
)
def test_bf16_switches_stay_close_to_reference(switch):
    (loss_r, grads_r, probs_r), (loss_o, grads_o, probs_o), _ = pair(**switch)
    assert abs(loss_o - loss_r) / loss_r < 0.02
    assert (probs_o - probs_r).abs().max() < 0.02
    assert grads_r.keys() == grads_o.keys()
    assert all(torch.isfinite(g).all() for g in grads_o.values())


def test_td_adapter_token_layout_equals_video_layout():
    torch.manual_seed(0)
    for mode in ('pool', 'conv', 'direct'):
        td = TDAdapter(32, mode=mode, kernel_size=5).train()
        twin = copy.deepcopy(td)
        z = torch.randn(2, 32, 6, 3, 4)
        video = td(z)
        tokens = twin.forward_tokens(z.permute(0, 2, 3, 4, 1).reshape(2, 6, 12, 32))
        torch.testing.assert_close(
            tokens.reshape(2, 6, 3, 4, 32).permute(0, 4, 1, 2, 3), video, atol=1e-5, rtol=1e-5
        )
        for a, b in zip(td.buffers(), twin.buffers()):
            torch.testing.assert_close(a.float(), b.float())


def test_lean_block_stores_less_for_backward():
    from mmaction_tdsclip.models.necks.tds_block import TDSBlock

    def saved_bytes(block):
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        x = torch.randn(8, 16, 64, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            block(x, torch.randn(8, 1, 64), torch.randn(16, 64))
        return sum(seen.values())

    plain = TDSBlock(64, 4, (4, 4), td_adapter=dict(reduction=16), memory_efficient=False).train()
    lean = copy.deepcopy(plain)
    lean.memory_efficient = True
    assert saved_bytes(lean) < 0.85 * saved_bytes(plain)
