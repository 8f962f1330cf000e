#!/usr/bin/env bash
# Validate the best checkpoint (models/model.pt).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json \
  --set dont_load_ts_model=true dont_load_ckpt_model=false "$@"
