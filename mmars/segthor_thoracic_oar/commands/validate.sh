#!/usr/bin/env bash
# Validate models/model.pt slice by slice in 3D: Dice and HD95 per organ, leaderboard.md;
# --set gate_slices=true gates it with the slice classifier.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json "$@"
