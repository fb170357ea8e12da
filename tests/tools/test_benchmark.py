"""``tools/benchmark.py`` builds its rows from the configs and runs any config."""

import json
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

import benchmark  # noqa: E402

TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'tdsclip_tiny_reversal.py')


@pytest.mark.parametrize('arch', sorted(benchmark.ARCH_CONFIGS))
def test_presets_are_the_shipped_configs_with_their_switches(arch):
    from mmengine.config import Config

    args = benchmark.parse_args(['--arch', arch])
    path = benchmark.arch_config(arch)
    shipped = Config.fromfile(path).model.to_dict()
    ref = benchmark.load_model_cfg(
        path, benchmark.preset_overrides('tdsclip-reference', 'cpu'), args
    )
    assert ref['neck']['memory_efficient'] is False and ref['backbone']['precision'] == 'fp32'
    side4video = benchmark.load_model_cfg(
        path, benchmark.preset_overrides('side4video', 'cpu'), args
    )
    assert side4video['neck']['use_td'] is False and side4video['neck']['use_sme'] is False
    for cfg in (ref, side4video):
        # Everything the preset does not switch is the shipped config's.
        assert cfg['neck']['side_dim'] == shipped['neck']['side_dim']
        assert cfg['cls_head'] == shipped['cls_head']
        assert cfg['backbone']['arch'] == shipped['backbone']['arch']
    args = benchmark.parse_args(['--arch', arch, '--frames', '4', '--num-classes', '9'])
    cfg = benchmark.load_model_cfg(path, {}, args)
    assert cfg['neck']['num_segments'] == 4
    assert cfg['cls_head']['num_classes'] == 9


def test_any_config_runs_as_a_row(capsys):
    args = benchmark.parse_args(
        ['--worker', TINY_CONFIG, '--steps', '1', '--warmup', '0', '--project-batch', '4']
    )
    benchmark.worker(args)
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row['name'] == TINY_CONFIG and row['batch'] == 2
    assert row['step_s'] > 0 and row['trainable_params'] > 0
    assert row['saved_bytes_per_clip'] > 0 and 0 < row['step_live_bytes']
    # Gradients and AdamW's two moments are fp32 copies of the trainable parameters.
    assert row['grad_bytes'] == 4 * row['trainable_params']
    assert row['optimizer_state_bytes'] >= 2 * row['grad_bytes']
    # The projection holds the weights, the optimizer, the inputs and at least what the
    # measured step allocated, scaled to the projected batch.
    floor = row['param_bytes'] + row['optimizer_state_bytes'] + 4 * row['input_bytes_per_clip']
    assert row['projected_gpu_peak_bytes'] > floor
    assert row['step_live_bytes_per_clip_mixed'] > 0
