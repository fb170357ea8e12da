#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in <repo>/.venv with the
# exact package set of requirements/constraints.txt, then install this
# package in editable mode.
#
# Idempotent: a stamp file inside the venv records a hash of the inputs
# (constraints, requirement lists, setup.py and this script); when it matches,
# nothing is installed and the script returns at once.
#
# Environment variables:
#   PYTHON         interpreter used to create the venv (default: python3.11)
#   TDSCLIP_VENV   venv location (default: <repo>/.venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TDSCLIP_VENV:-$ROOT/.venv}"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"
STAMP="$VENV/.mmaction-tdsclip-setup.sha256"

inputs_hash() {
    cat "$CONSTRAINTS" "$REQ"/runtime.txt "$REQ"/tests.txt "$REQ"/demo.txt \
        "$REQ"/mminstall.txt "$REQ"/mim.txt "$REQ"/analysis.txt "$REQ"/onnx.txt "$ROOT/setup.py" \
        "$ROOT/mmaction_tdsclip_hook.pth" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}

venv_works() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null
}

HASH="$(inputs_hash)"
if venv_works && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    echo "setup_env: $VENV is up to date"
    exit 0
fi

# Two concurrent runs (e.g. two test sessions) must not pip-install into the
# same venv at once.
LOCK="/tmp/mmaction-tdsclip-setup-$(echo "$VENV" | sha256sum | cut -c1-16).lock"
exec 9>"$LOCK"
flock 9
if venv_works && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    echo "setup_env: $VENV is up to date"
    exit 0
fi

if ! venv_works; then
    PY="${PYTHON:-}"
    if [ -z "$PY" ]; then
        if command -v python3.11 >/dev/null; then PY=python3.11; else PY=python3; fi
    fi
    echo "setup_env: creating $VENV with $("$PY" --version 2>&1)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

pip_install() {
    # pip's extra local indexes warn about every package they do not hold;
    # keep the other messages.
    { "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
        -c "$CONSTRAINTS" "$@" 2>&1 1>&3 \
        | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2
    } 3>&1
}

echo "setup_env: installing the pinned set (requirements/constraints.txt)"
# setuptools first: torch needs >= 77.0.3 and mim / mmengine's `mmaction::`
# config lookup need pkg_resources, which setuptools 81 removed.
pip_install setuptools
# torch on its own and pinned, so that the local CPU wheel satisfies it; an
# unpinned torch would pull several GB of CUDA packages.
pip_install torch==2.13.0
pip_install -r "$REQ/runtime.txt" -r "$REQ/mminstall.txt" -r "$REQ/tests.txt" \
    -r "$REQ/demo.txt" -r "$REQ/mim.txt" -r "$REQ/analysis.txt" -r "$REQ/onnx.txt"
# openmim's declared dependencies downgrade setuptools and others; mim needs
# only what requirements/mim.txt lists.
pip_install --no-deps openmim
# setup.py also installs mmaction_tdsclip_hook.pth into site-packages (a
# copy: the hash above covers it), so MMAction2's own tools import without
# the plugin being imported first.
pip_install --no-deps --no-build-isolation -e "$ROOT"

# Environment repair for CPU-only machines (set-up time, never run time).
# The only torchvision wheel for torch 2.13 on the registry is a CUDA build:
# its compiled ops cannot load with a CPU torch, and two `register_fake`
# decorators in torchvision/_meta_registrations.py are not guarded by
# `_has_ops()` (pytorch/vision#9085), so `import torchvision` dies with
# "operator torchvision::nms does not exist". Guarding them as upstream's
# open fix does lets transforms and models import (nms and image decoding
# stay unavailable). Nothing is changed where the import already works.
if ! TV_ERR="$("$VENV/bin/python" -c 'import torchvision' 2>&1)"; then
    if ! grep -q 'torchvision::nms' <<<"$TV_ERR"; then
        echo "$TV_ERR" >&2
        echo "setup_env: 'import torchvision' fails for another reason" >&2
        exit 1
    fi
    echo "setup_env: CPU-only torch: guarding torchvision's unguarded register_fake decorators (pytorch/vision#9085)"
    "$VENV/bin/python" - <<'PYEOF'
import importlib.util
import pathlib
import re

spec = importlib.util.find_spec('torchvision')
path = pathlib.Path(spec.submodule_search_locations[0], '_meta_registrations.py')
source = path.read_text()
guarded, count = re.subn(
    r'^@torch\.library\.register_fake\(("torchvision::\w+")\)[ \t]*$',
    r'@(torch.library.register_fake(\1) '
    r'if torchvision.extension._has_ops() else (lambda fn: fn))',
    source, flags=re.MULTILINE)
if count == 0:
    raise SystemExit(f'no unguarded register_fake decorator found in {path}')
path.write_text(guarded)
print(f'setup_env: guarded {count} decorator(s) in {path}')
PYEOF
    "$VENV/bin/python" -c 'import torchvision'
fi

"$VENV/bin/python" -c 'import torchvision, mmengine, mmcv, mmaction, open_clip, decord, av'
echo "$HASH" > "$STAMP"
echo "setup_env: $VENV is ready"
