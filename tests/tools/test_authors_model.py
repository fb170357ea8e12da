"""The benchmark's authors' computation (``tools/authors_model.py``) computes
what the independent reference model (``tests/reference/authors_tdsclip.py``)
computes: same keys, logits, gradients and BatchNorm statistics from the same
weights."""

import os.path as osp
import sys

import pytest
import torch
from reference.authors_tdsclip import AuthorsTDSCLIP as Reference
from reference.authors_tdsclip import randomize_

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

import authors_model  # noqa: E402

TINY = dict(
    width=64,
    layers=2,
    heads=2,
    patch_size=8,
    img_size=32,
    num_segments=4,
    side_width=64,
    num_classes=7,
)


@pytest.mark.parametrize('flags', [dict(), dict(use_td=False, use_sme=False)])
def test_same_computation_as_reference(flags):
    ref = randomize_(Reference(**TINY, **flags), torch.Generator().manual_seed(0))
    model = authors_model.AuthorsTDSCLIP(**TINY, **flags)
    model.load_state_dict(ref.state_dict(), strict=True)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        n for n, p in ref.named_parameters() if p.requires_grad
    ]
    x = torch.randn(2, 3, 4 * 5, 32, 32, generator=torch.Generator().manual_seed(1))
    outs = []
    for m in (ref, model):
        m.train()
        m.zero_grad()
        logits = m(x)
        logits.square().sum().backward()
        grads = {n: p.grad for n, p in m.named_parameters() if p.requires_grad}
        stats = {n: b.clone() for n, b in m.named_buffers()}
        m.eval()
        with torch.no_grad():
            outs.append((logits.detach(), grads, stats, m(x)))
    (l_ref, g_ref, s_ref, e_ref), (logit, g, s, e) = outs
    torch.testing.assert_close(logit, l_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(e, e_ref, rtol=1e-4, atol=1e-4)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        # Within 1e-3 of the largest magnitude (+1e-6: some, like the bias of the TD-Adapter's
        # first BatchNorm, cancel out and are rounding noise in both models).
        tol = 1e-3 * g_ref[name].abs().max() + 1e-6
        assert (g[name] - g_ref[name]).abs().max() <= tol, name
    for name in s_ref:
        torch.testing.assert_close(s[name], s_ref[name], rtol=1e-4, atol=1e-5)


def test_frozen_tower_saves_nothing_for_backward():
    """No autograd through CLIP: only side-network work is recorded."""
    model = authors_model.AuthorsTDSCLIP(**dict(TINY, width=96))  # CLIP MLP 384 wide, side 256
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.shape) or t, lambda t: t
    ):
        model(torch.randn(1, 3, 20, 32, 32))
    frozen_width_tokens = [s for s in saved if len(s) == 3 and s[-1] == 4 * 96]
    assert saved and not frozen_width_tokens
