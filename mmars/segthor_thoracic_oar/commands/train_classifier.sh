#!/usr/bin/env bash
# The slice classifier (is each organ on this slice?) -> models/classifier/model.pt; gate the
# segmenter with it: validate.sh --set gate_slices=true.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train_classifier.json -e config/environment.json \
  --set MMAR_CKPT_DIR="$MMAR_ROOT/models/classifier" "$@"
