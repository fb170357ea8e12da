from setuptools import find_packages, setup

setup(
    name='mmaction-tdsclip',
    version='0.1.0',
    description='TDS-CLIP (Temporal Difference Side Network) for MMAction2',
    packages=find_packages(include=['mmaction_tdsclip', 'mmaction_tdsclip.*']),
    python_requires='>=3.9',
)
