#!/usr/bin/env bash
# The main job in one command: set up the environment (creates or reuses
# .venv), then train and test TDS-CLIP, Side4Video and a frame-averaging
# baseline on the embedded time-reversal dataset, each with training seeds
# 0, 1 and 2 (the README's documented run, about 25 minutes on 2 CPU cores).
# Arguments go to tools/main_job.py (e.g. --quick, --seeds 0, --out-dir DIR).
#
#   bash tools/run_main_job.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tools/setup_env.sh ]; then
    bash tools/setup_env.sh
fi
if [ ! -f .venv/bin/activate ]; then
    echo "No .venv found: run 'bash tools/setup_env.sh' first." >&2
    exit 1
fi
# shellcheck disable=SC1091
. .venv/bin/activate
exec python tools/main_job.py "$@"
