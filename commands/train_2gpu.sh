#!/usr/bin/env bash
# Train any MMAR on 2 GPUs (2 processes, DistributedDataParallel, NCCL).
# Usage: commands/train_2gpu.sh MMAR_ROOT [clara train options...]
#   e.g. commands/train_2gpu.sh mmars/clara_pt_spleen_ct_segmentation --set epochs=10
#        commands/train_2gpu.sh MMAR --device cpu      # 2 CPU processes (gloo) instead
set -euo pipefail
MMAR_ROOT="${1:?usage: commands/train_2gpu.sh MMAR_ROOT [clara train options...]}"
shift
clara train -m "$MMAR_ROOT" --gpus 2 "$@"
