#!/usr/bin/env bash
# Validate the best checkpoint (models/model.pt): Dice and HD95 per region (TC, WT, ET) and
# their mean, per case and overall, in MMAR_EVAL_OUTPUT_PATH. Extra arguments are passed on;
# --set dont_load_ts_model=false dont_load_ckpt_model=true validates models/model.ts instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json "$@"
