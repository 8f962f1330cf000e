#!/usr/bin/env bash
# Validate the exported TorchScript model (models/model.ts; run export.sh first).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json \
  --set dont_load_ts_model=false dont_load_ckpt_model=true "$@"
