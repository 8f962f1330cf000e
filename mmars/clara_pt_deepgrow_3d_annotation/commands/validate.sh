#!/usr/bin/env bash
# Dice against the number of simulated clicks (1 .. max_interactions + 1) for every validation
# sample: eval/dice_per_click.csv, metrics_summary.json, dice_vs_clicks.png. Uses models/model.pt;
# add --set dont_load_ts_model=false dont_load_ckpt_model=true for the exported models/model.ts.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json "$@"
