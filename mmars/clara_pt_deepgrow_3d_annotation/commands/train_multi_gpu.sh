#!/usr/bin/env bash
# Train on 2 GPUs: 2 processes, one DistributedDataParallel model, each rank on its own half of
# the samples. Extra arguments are passed on, e.g. --set epochs=10, or --device cpu.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json \
  --gpus 2 --set multi_gpu=true "$@"
