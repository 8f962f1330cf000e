#!/usr/bin/env bash
# Segment CTs with the two-stage window pipeline (see validate_two_stage.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference_two_stage.json -e config/environment.json "$@"
