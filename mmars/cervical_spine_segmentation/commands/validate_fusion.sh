#!/usr/bin/env bash
# Score the view fusion of the three view models (MODEL_AXIS0/1/2: their probabilities
# averaged in 3D) on the validation volumes. Report in eval/fused/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation_fusion.json \
  -e config/environment.json "$@"
