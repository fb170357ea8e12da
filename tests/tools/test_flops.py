"""The MAC counter of tools/analysis/get_flops.py against hand-computed counts."""

import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn

TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'tools',
    'analysis',
    'get_flops.py',
)


@pytest.fixture(scope='module')
def get_flops():
    spec = importlib.util.spec_from_file_location('get_flops_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('counter', ['fvcore', 'torch'])
def test_single_layers_count_one_mac_per_multiply_add(get_flops, counter):
    linear = nn.Linear(10, 20)
    assert get_flops.count_macs(linear, torch.randn(3, 10), counter) == 3 * 10 * 20
    # (B, C, T, H, W) = (1, 3, 4, 32, 32), kernel (3, 16, 16), stride (1, 16, 16), padding 1 -> (1, 8, 4, 2, 2)
    conv = nn.Conv3d(3, 8, (3, 16, 16), stride=(1, 16, 16), padding=(1, 1, 1))
    assert get_flops.count_macs(conv, torch.randn(1, 3, 4, 32, 32), counter) == (8 * 4 * 2 * 2) * (
        3 * 3 * 16 * 16
    )
    depthwise = nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0), groups=8)
    assert (
        get_flops.count_macs(depthwise, torch.randn(1, 8, 4, 2, 2), counter) == (8 * 4 * 2 * 2) * 3
    )


def clip_macs(T, p, grid, W, L):
    """Multiply-accumulates of the frozen tower on T frames."""
    N = grid * grid
    frame = N * W * 3 * p * p  # conv1
    frame += L * (
        (N + 1) * W * 3 * W + 2 * (N + 1) ** 2 * W + (N + 1) * W * W + 2 * (N + 1) * W * 4 * W
    )
    return T * frame


def tiny_recognizer_macs(T, n, p, grid, W, L, D, K, r=16):
    """Multiply-accumulates of matmuls and convs of one view, written out from docs/model.md."""
    N = grid * grid
    stem = T * N * D * 3 * 3 * p * p
    sme = T * N * D * 3 * (n - 1) * 3 * p * p
    side_layer = (
        (N + 1) * W * D  # per-layer Linear W -> D over cls + patches
        + 2 * N * D * D
        + N * D * 3  # temporal 1x1x1, depthwise (3,1,1), 1x1x1
        + 2 * N * D * (D // r)  # TD-Adapter's two 1x1 convs
        + N * D * D
        + (N + 1) * D * 2 * D  # queries from patches, keys/values from cls + patches
        + 2 * N * (N + 1) * D
        + N * D * D  # scores, weighted values, out projection
        + 2 * N * D * 4 * D
    )  # MLP
    return clip_macs(T, p, grid, W, L) + stem + sme + T * L * side_layer + D * K


def tiny_norm_elements(T, grid, W, L, D, r=16):
    """(LayerNorm, BatchNorm) input elements of one view, for fvcore's 5 and 2 per element."""
    N = grid * grid
    layer_norm = T * (N + 1) * W * (1 + 2 * L) + T * L * (N + 1) * (W + D)
    batch_norm = T * N * D * (3 + L * 3) + T * L * N * (D // r)
    return layer_norm, batch_norm


def test_tiny_recognizer_matches_the_hand_count(get_flops):
    T, n, p, grid, W, L, D, K = 4, 5, 16, 2, 64, 2, 64, 7
    arch = dict(embed_dims=W, num_layers=L, num_heads=2, patch_size=p)
    torch.manual_seed(0)
    model = get_flops.build_recognizer(
        get_flops.recognizer_config(arch, D, T, n, True, img_size=grid * p, num_classes=K)
    )
    view = get_flops.ViewToLogits(model)
    inputs = torch.randn(1, 1, 3, T * n, grid * p, grid * p)
    expected = tiny_recognizer_macs(T, n, p, grid, W, L, D, K)
    assert get_flops.count_macs(view, inputs, 'torch') == expected
    counts = get_flops.count_breakdown(view, inputs, 'fvcore', ['', 'recognizer.backbone'])
    assert counts['']['macs'] == expected
    layer_norm, batch_norm = tiny_norm_elements(T, grid, W, L, D)
    assert counts['']['total'] == expected + 5 * layer_norm + 2 * batch_norm
    assert counts['recognizer.backbone']['macs'] == clip_macs(T, p, grid, W, L)
    assert (
        get_flops.count_macs(view, inputs, 'torch', submodule='recognizer.backbone')
        == counts['recognizer.backbone']['macs']
    )


def test_side4video_baseline_drops_exactly_the_adapters(get_flops):
    T, p, grid, W, L, D, K = 4, 16, 2, 64, 2, 64, 7
    arch = dict(embed_dims=W, num_layers=L, num_heads=2, patch_size=p)
    model = get_flops.build_recognizer(
        get_flops.recognizer_config(arch, D, T, 1, False, img_size=grid * p, num_classes=K)
    )
    inputs = torch.randn(1, 1, 3, T, grid * p, grid * p)
    N = grid * grid
    adapters = T * N * D * 12 * 3 * p * p + T * L * 2 * N * D * (D // 16)
    expected = tiny_recognizer_macs(T, 5, p, grid, W, L, D, K) - adapters
    assert get_flops.count_macs(get_flops.ViewToLogits(model), inputs, 'torch') == expected
