#!/usr/bin/env bash
# Distributed training with torchrun:
#   bash tools/dist_train.sh CONFIG NPROC_PER_NODE [tools/train.py options]
# NPROC_PER_NODE is the number of GPUs per node (processes on a CPU-only
# machine, where the gloo backend is used). Multi-node: run on every node
# with NNODES, NODE_RANK, MASTER_ADDR and PORT set alike (NODE_RANK differs).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC_PER_NODE [train.py options]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2

exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
