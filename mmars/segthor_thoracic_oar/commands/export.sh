#!/usr/bin/env bash
# Export models/model.pt to TorchScript (models/model.ts), checked on one 384 x 384 slice;
# validate it with validate.sh --set dont_load_ts_model=false dont_load_ckpt_model=true.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara export -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json \
  --input-shape '[1, 1, 384, 384]' "$@"
