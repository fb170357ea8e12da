#!/usr/bin/env bash
# Set up (or reuse) .venv, then run the test-suite with pytest. Arguments go
# to pytest; when one names a test file or folder, only that runs, e.g.
# `bash tools/run_tests.sh tests/engine/test_compat.py -x`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TDSCLIP_VENV:-$ROOT/.venv}"

bash "$ROOT/tools/setup_env.sh"
# The venv's bin first, so that tests which start `mim`, `torchrun` or the
# dist_*.sh scripts get the venv's tools.
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
# Run the whole suite unless a test path is given.
targets=(tests)
for arg in "$@"; do
    if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then
        targets=()
        break
    fi
done
exec "$VENV/bin/python" -m pytest "${targets[@]}" -q "$@"
