#!/usr/bin/env bash
# Validate the exported TorchScript model (models/model.ts) on 2 GPUs: each rank scores its own
# share of the cases, the metrics are gathered over the whole list. Run export.sh first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json \
  --gpus 2 --set multi_gpu=true dont_load_ts_model=false dont_load_ckpt_model=true "$@"
