"""The start-up hook installed with the package (mmaction_tdsclip_hook.pth):
MMAction2's own tools and modules import without the plugin being imported
first, upstream noise is filtered, and nothing heavy runs at start-up."""

import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import mmaction
import mmengine
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'tests' / 'tiny_configs' / 'tiny_tdsclip_video.py'
ANALYSIS_TOOLS = Path(mmaction.__file__).parent / '.mim' / 'tools' / 'analysis_tools'
PTH = 'mmaction_tdsclip_hook.pth'
DRN_MISSING = not (Path(mmaction.__file__).parent / 'models' / 'localizers' / 'drn').is_dir()
# Drop the finder, in case this venv's site-packages already has the .pth.
WITHOUT_HOOK = (
    'import sys\n'
    "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'MissingDRNFinder']\n"
)
# What site.py does with the installed file: process REPO/mmaction_tdsclip_hook.pth.
WITH_PTH = WITHOUT_HOOK + f'import site\nsite.addsitedir({str(REPO)!r})\n'


def run_tool(prelude: str, tool: Path, args, cwd: Path, env):
    code = prelude + textwrap.dedent(f"""
        import runpy
        sys.argv = [{str(tool)!r}, *{[str(a) for a in args]!r}]
        runpy.run_path({str(tool)!r}, run_name='__main__')
    """)
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


def test_start_up_costs_no_heavy_import(subprocess_env):
    result = subprocess.run(
        [
            sys.executable,
            '-c',
            WITH_PTH + "print(sorted({'torch', 'mmaction', 'mmengine', "
            "'mmaction_tdsclip'} & set(sys.modules)), [type(f).__name__ for f in sys.meta_path][-1])",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['[]', 'MissingDRNFinder']


@pytest.fixture(scope='module')
def predictions(tmp_path_factory) -> Path:
    """A --dump file as tools/test.py writes it (3 classes, 6 videos)."""
    path = tmp_path_factory.mktemp('startup') / 'preds.pkl'
    scores = torch.eye(3)[[0, 1, 2, 0, 2, 2]]
    mmengine.dump(
        [
            dict(pred_score=s, pred_label=s.argmax(keepdim=True), gt_label=torch.tensor([i % 3]))
            for i, s in enumerate(scores)
        ],
        str(path),
    )
    return path


def test_confusion_matrix_tool_runs_on_a_plugin_config(predictions, subprocess_env):
    out = predictions.parent / 'cm.pkl'
    args = [CONFIG, predictions, '--out', out]
    tool = ANALYSIS_TOOLS / 'confusion_matrix.py'
    if DRN_MISSING:
        without = run_tool(WITHOUT_HOOK, tool, args, predictions.parent, subprocess_env)
        assert "No module named 'mmaction.models.localizers.drn'" in without.stdout
    result = run_tool(WITH_PTH, tool, args, predictions.parent, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'MultiScaleDeformableAttention' not in result.stdout
    # Rows: true class; the 4th video (class 0) and the 5th (class 1) were called 2.
    assert mmengine.load(str(out)).tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]


def test_get_flops_tool_runs_on_a_plugin_config(tmp_path, subprocess_env):
    # --shape: views, channels, T*n frames, H, W (MMAction2 adds the batch).
    args = [CONFIG, '--shape', '1', '3', '6', '32', '32']
    result = run_tool(WITH_PTH, ANALYSIS_TOOLS / 'get_flops.py', args, tmp_path, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert 'Input shape: (1, 3, 6, 32, 32)' in result.stdout
    assert 'MultiScaleDeformableAttention' not in result.stdout


def test_installed_hook_lets_user_scripts_import_mmaction_models(subprocess_env):
    # tools/setup_env.sh installs the plugin, and with it the .pth.
    assert any((Path(p) / PTH).is_file() for p in site.getsitepackages()), PTH
    code = 'from mmaction.models.backbones import X3D; import sys; print("mmaction_tdsclip" in sys.modules)'
    result = subprocess.run(
        [sys.executable, '-c', code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'False'


@pytest.mark.parametrize('build', ['build_wheel', 'build_editable'])
def test_wheels_install_the_pth_into_site_packages(build, tmp_path, source_copy):
    """`pip install .` and `pip install -e .` both put the .pth at the top level."""
    source = source_copy
    code = f'from setuptools import build_meta; print(build_meta.{build}({str(tmp_path)!r}))'
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=source, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    wheel = tmp_path / result.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(PTH) == (REPO / PTH).read_bytes()
        names = archive.namelist()
    if build == 'build_wheel':
        assert 'mmaction_tdsclip_hook.py' in names


NOISE = ('MultiScaleDeformableAttention', 'pkg_resources is deprecated')


@pytest.mark.parametrize(
    'command',
    [
        [str(REPO / 'tools' / 'train.py'), '--help'],
        ['-c', WITH_PTH + "from mim.cli import cli\nsys.argv = ['mim', 'train', '--help']\ncli()"],
    ],
    ids=['train.py --help', 'mim train --help'],
)
def test_quiet_start(command, subprocess_env):
    result = subprocess.run(
        [sys.executable, *command],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert 'usage' in result.stdout.lower(), result.stdout[-2000:]
    assert not [line for line in result.stdout.splitlines() if any(n in line for n in NOISE)]
