#!/usr/bin/env bash
# Segment volumes with the fused three view models: infer_fusion.sh -i scan.nrrd -o out/.
# For one "012" model along every axis instead:
#   infer_fusion.sh --set 'fusion_checkpoints=["models/axis012/model.pt"]' fusion_axes=012
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference_fusion.json -e config/environment.json "$@"
