#!/usr/bin/env bash
# Finetune: start from the weights of MMAR_CKPT (models/model.pt) with a fresh optimizer and
# epoch counter. Extra arguments are passed on, e.g. MMAR_CKPT=/path/to/other.pt epochs=50.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json \
  --set dont_load_ckpt_model=false "$@"
