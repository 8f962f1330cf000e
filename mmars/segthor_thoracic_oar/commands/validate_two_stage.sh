#!/usr/bin/env bash
# Validate the two-stage window pipeline: models/model.pt predicts the masks, their HU give
# each organ's window, models/mask_window/model.pt segments.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation_two_stage.json \
  -e config/environment.json "$@"
