#!/usr/bin/env bash
# Train the sagittal, coronal and axial models (models/axis0, axis1, axis2), the inputs of
# view fusion (validate_fusion.sh, infer_fusion.sh). Extra arguments are passed to each run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
for axis in 0 1 2; do
  clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json \
    --set axis="$axis" "$@"
done
