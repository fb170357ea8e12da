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
from mmaction_tdsclip.models import SMEAdapter, TDAdapter
from mmaction_tdsclip.models.layers import (
    batch_norm_mlp,
    fused_attention,
    layer_norm_linear,
    patch_conv3d,
)

init_default_scope('mmaction')

REFERENCE = dict(
    backbone=dict(precision='fp32', use_sdpa=False),
    neck=dict(memory_efficient=False, use_sdpa=False, side_precision='fp32', with_cp=False),
)


def build(backbone=None, neck=None, seed=0, **recognizer):
    cfg = dict(
        **recognizer,
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


def assert_same_step(expected, got, models, probs_atol, grad_rtol):
    """Loss, probabilities, every gradient (within ``grad_rtol`` of its largest magnitude) and
    every buffer of two ``run`` results of ``models = (expected model, got model)``."""
    (loss_e, grads_e, probs_e), (loss_g, grads_g, probs_g) = expected, got
    torch.testing.assert_close(loss_g, loss_e, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(probs_g, probs_e, atol=probs_atol, rtol=0)
    assert grads_e.keys() == grads_g.keys()
    for name in grads_e:
        # biases feeding a BatchNorm have an exactly-zero true gradient: hence the absolute floor
        scale = grads_e[name].abs().max()
        assert (grads_g[name] - grads_e[name]).abs().max() <= grad_rtol * scale + 1e-6, name
    for (name, a), b in zip(models[0].named_buffers(), models[1].buffers()):
        torch.testing.assert_close(b.float(), a.float(), atol=1e-5, rtol=1e-5, msg=name)


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
    expected, got, models = pair(**switch)
    assert_same_step(expected, got, models, probs_atol=1e-4, grad_rtol=1e-3)


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


def test_compiled_model_matches_eager():
    """``model.compile``: same loss, gradients, BN statistics and scores; copies run eagerly.

    The capture (graph breaks, BatchNorm buffer updates, the custom autograd
    functions) is what the plugin controls; it is checked with the
    ``aot_eager`` backend, which runs the captured forward and backward
    graphs without generating kernels, and ``fullgraph=True``, which fails
    on any graph break (a break inside the side network's layer loop once
    made it fall back to eager). With the default inductor backend the
    same test passes too, but takes minutes on two cores.
    """
    switches = dict(
        backbone=dict(precision='fp32', use_sdpa=True),
        neck=dict(side_precision='fp32', use_sdpa=True, memory_efficient=True),
    )
    eager = build(**switches)
    compiled = build(**switches, compile=dict(backend='aot_eager', fullgraph=True))
    compiled.load_state_dict(eager.state_dict())
    assert compiled.neck._compiled_call_impl is not None
    x = torch.randn(2, 1, 3, 20, 32, 32)
    assert_same_step(run(eager, x), run(compiled, x), (eager, compiled), 1e-5, grad_rtol=1e-4)
    copied = copy.deepcopy(compiled)
    assert copied.neck._compiled_call_impl is None and copied.backbone._compiled_call_impl is None


def test_compile_option_is_checked():
    with pytest.raises(TypeError, match='model.compile'):
        build(compile='yes')


@pytest.mark.parametrize(
    'kernel, padding, size',
    [
        ((3, 16, 16), (1, 1, 1), (5, 32, 48)),
        ((1, 8, 8), (0, 0, 0), (3, 20, 17)),
        ((3, 4, 4), (1, 2, 0), (4, 9, 12)),
    ],
)
def test_patch_conv3d_equals_conv3d(kernel, padding, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(6, 10, kernel, stride=(1,) + kernel[1:], padding=padding)
    x = torch.randn(2, 6, *size)
    expected = conv(x)
    expected.square().sum().backward()
    grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    tokens = patch_conv3d(x, conv)
    B, D, T, h, w = expected.shape
    assert tokens.shape == (B, T, h * w, D)
    torch.testing.assert_close(
        tokens, expected.flatten(3).permute(0, 2, 3, 1), atol=1e-5, rtol=1e-5
    )
    tokens.square().sum().backward()
    for got, want in zip((p.grad for p in conv.parameters()), grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)


def test_sme_adapter_token_layout_equals_video_layout():
    torch.manual_seed(0)
    sme = SMEAdapter(16, num_local_frames=3, patch_size=8).train()
    twin = copy.deepcopy(sme)
    windows = torch.randn(2, 3, 4, 3, 16, 24)
    video = sme(windows)
    tokens = twin.forward_tokens(windows)
    torch.testing.assert_close(tokens, video.flatten(3).permute(0, 2, 3, 1), atol=1e-5, rtol=1e-5)
    for a, b in zip(sme.buffers(), twin.buffers()):
        torch.testing.assert_close(a.float(), b.float())


def test_cpu_bf16_attention_backward_is_closer_to_fp32():
    """The bf16 forward of SDPA, with gradients nearer the fp32 ones than SDPA's bf16 backward."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 2, n, 16) for n in (12, 13, 13))
    grad = torch.randn(3, 2, 12, 16)

    def forward_backward(fn, dtype):
        inputs = [t.to(dtype).requires_grad_() for t in (q, k, v)]
        out = fn(*inputs)
        out.backward(grad.to(dtype))
        return out, [t.grad.float() for t in inputs]

    ref_out, ref_grads = forward_backward(
        torch.nn.functional.scaled_dot_product_attention, torch.float64
    )
    out, grads = forward_backward(fused_attention, torch.bfloat16)
    sdpa_out, sdpa_grads = forward_backward(
        torch.nn.functional.scaled_dot_product_attention, torch.bfloat16
    )
    torch.testing.assert_close(out, sdpa_out, atol=0, rtol=0)
    ours = sum((g - r.float()).abs().sum() for g, r in zip(grads, ref_grads))
    theirs = sum((g - r.float()).abs().sum() for g, r in zip(sdpa_grads, ref_grads))
    assert ours < theirs


@pytest.mark.parametrize('momentum', [0.1, None])
def test_batch_norm_mlp_equals_composition(momentum):
    """Output, every gradient and the running statistics of the plain ``fc2(gelu(fc1(bn(x))))``."""
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(8, momentum=momentum).train()
    fc1, fc2 = torch.nn.Linear(8, 32), torch.nn.Linear(32, 8)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    twin = copy.deepcopy((bn, fc1, fc2))
    x = torch.randn(3, 5, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    grad = torch.randn(3, 5, 8)
    for _ in range(2):  # twice: the running statistics and the momentum=None count
        x.grad = x2.grad = None
        expected = fc2(torch.nn.functional.gelu(fc1(bn(x.reshape(-1, 8)).reshape(3, 5, 8))))
        expected.backward(grad)
        got = batch_norm_mlp(*twin, x2)
        got.backward(grad)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(x2.grad, x.grad, atol=1e-5, rtol=1e-5)
    for a, b in zip((bn, fc1, fc2), twin):
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-5)
        for p, q in zip(a.buffers(), b.buffers()):
            torch.testing.assert_close(q, p)


@pytest.mark.parametrize('input_grad', [True, False])
def test_layer_norm_linear_equals_composition(input_grad):
    torch.manual_seed(0)
    norm, linear = torch.nn.LayerNorm(16), torch.nn.Linear(16, 24)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    twin_norm, twin_linear = copy.deepcopy(norm), copy.deepcopy(linear)
    x = torch.randn(4, 7, 16, requires_grad=input_grad)
    x2 = x.detach().clone().requires_grad_(input_grad)
    grad = torch.randn(4, 7, 24)
    expected = linear(norm(x))
    expected.backward(grad)
    got = layer_norm_linear(twin_norm, twin_linear.weight, twin_linear.bias, x2)
    got.backward(grad)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    if input_grad:
        torch.testing.assert_close(x2.grad, x.grad, atol=1e-5, rtol=1e-5)
    for p, q in zip(
        (*norm.parameters(), *linear.parameters()),
        (*twin_norm.parameters(), *twin_linear.parameters()),
    ):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-5)
