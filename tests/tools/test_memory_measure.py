"""The benchmark's memory measures (``tools/memory_measure.py``) against hand counts."""

import os.path as osp
import sys

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

from memory_measure import LiveTensorBytes, saved_tensor_bytes  # noqa: E402


def test_live_bytes_peak_and_release():
    x = torch.zeros(1000)  # allocated before: not counted
    with LiveTensorBytes() as tracker:
        a = torch.ones(1000)  # 4000 B
        b = a + 1  # 8000 B alive
        v = b[10:]  # a view allocates nothing
        b.add_(1)  # in place: nothing
        torch.add(a, 1, out=x)  # into an existing tensor: nothing
        del a  # 4000 B alive (b)
        c = torch.empty(500, dtype=torch.float64)  # 8000 B alive
        assert tracker.live == 8000
        del b
        assert tracker.live == 8000  # v keeps b's storage
        del v, c
    assert tracker.peak == 8000
    assert tracker.live == 0


def test_saved_bytes_count_each_storage_once_without_parameters():
    lin = torch.nn.Linear(8, 16)
    x = torch.randn(4, 8, requires_grad=True)
    with saved_tensor_bytes(list(lin.parameters())) as counted:
        h = lin(x)  # saves x (4 x 8) and the weight (excluded)
        y = h * h  # saves h (4 x 16) twice: counted once
        z = torch.sigmoid(y)  # saves its output (4 x 16)
    z.sum().backward()
    assert counted['bytes'] == 4 * (4 * 8 + 4 * 16 + 4 * 16)
