"""Packaging for mmaction-tdsclip.

``pip install -e .`` adds the plugin to an existing PyTorch environment
(CUDA or CPU). Dependencies are ranges; ``requirements/constraints.txt``
holds the exact set the test-suite runs with (see ``tools/setup_env.sh``).
mmcv is not a hard dependency: install ``mmcv`` (compiled ops) or
``mmcv-lite`` (pure Python, enough for recognition) yourself, see
``requirements/mminstall.txt``.
"""

import os
import os.path as osp
import shutil
import sys
from typing import List

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
# Run by Python at start-up from site-packages (see mmaction_tdsclip_hook.py):
# lets MMAction2's modules and tools import without importing the plugin first.
STARTUP_PTH = 'mmaction_tdsclip_hook.pth'


def parse_requirements(name: str) -> List[str]:
    """Read requirement specifiers from ``requirements/<name>.txt``.

    Blank lines and ``#`` comments are dropped.
    """
    with open(osp.join(HERE, 'requirements', name + '.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    """Take ``__version__`` from the package without importing it (the
    import pulls in torch and mmaction)."""
    with open(osp.join(HERE, 'mmaction_tdsclip', '__init__.py')) as f:
        for line in f:
            if line.startswith('__version__'):
                return line.split('=', 1)[1].strip().strip('\'"')
    raise RuntimeError('__version__ not found in mmaction_tdsclip/__init__.py')


class BuildPyWithStartupHook(build_py):
    """``build_py`` that also puts :data:`STARTUP_PTH` at the top level of
    site-packages: into the wheel's root for ``pip install .``, and into the
    editable wheel's root for ``pip install -e .`` (where setuptools builds
    into a throw-away folder and the wheel holds only what the ``install``
    command was told to place there)."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            target = self.get_finalized_command('install').install_lib
        else:
            target = self.build_lib
        self.mkpath(target)
        self.copy_file(osp.join(HERE, STARTUP_PTH), osp.join(target, STARTUP_PTH))

    def get_outputs(self, include_bytecode: bool = True) -> List[str]:
        return super().get_outputs(include_bytecode) + [osp.join(self.build_lib, STARTUP_PTH)]


def add_mim_extension() -> None:
    """Copy ``configs/`` and ``model-index.yml`` into ``mmaction_tdsclip/.mim/``
    when building a wheel or installing, as OpenMMLab packages ship them, so
    that ``mim search mmaction-tdsclip`` finds the model index of an
    installed plugin. An editable install reads the checkout instead (mim
    cannot see into it)."""
    if not {'bdist_wheel', 'build', 'build_py', 'install', 'sdist'} & set(sys.argv[1:]):
        return
    mim_dir = osp.join(HERE, 'mmaction_tdsclip', '.mim')
    shutil.rmtree(mim_dir, ignore_errors=True)
    os.makedirs(mim_dir)
    shutil.copy(osp.join(HERE, 'model-index.yml'), mim_dir)
    shutil.copytree(
        osp.join(HERE, 'configs'),
        osp.join(mim_dir, 'configs'),
        ignore=shutil.ignore_patterns('__pycache__'),
    )


add_mim_extension()

setup(
    name='mmaction-tdsclip',
    version=read_version(),
    description='TDS-CLIP (Temporal Difference Side Network) for MMAction2',
    packages=find_packages(include=['mmaction_tdsclip', 'mmaction_tdsclip.*']),
    py_modules=['mmaction_tdsclip_hook'],
    cmdclass={'build_py': BuildPyWithStartupHook},
    package_data={
        'mmaction_tdsclip': [
            '.mim/model-index.yml',
            '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml',
            '.mim/configs/**/*.md',
        ],
        'mmaction_tdsclip.datasets': ['data/*.txt'],
    },
    python_requires='>=3.9',
    install_requires=parse_requirements('runtime'),
    extras_require={
        'tests': parse_requirements('tests'),
        'demo': parse_requirements('demo'),
        'analysis': parse_requirements('analysis'),
        'lite': parse_requirements('mminstall'),
        'tensorboard': parse_requirements('tensorboard'),
        'onnx': parse_requirements('onnx'),
        'vis': parse_requirements('vis'),
        # Every optional feature (not the tests, not the choice of mmcv).
        'all': sorted(
            {
                req
                for name in ('demo', 'analysis', 'tensorboard', 'onnx', 'vis')
                for req in parse_requirements(name)
            }
        ),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
