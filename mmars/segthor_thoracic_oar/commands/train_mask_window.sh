#!/usr/bin/env bash
# Stage 2 of the two-stage window option: the segmenter on per-organ windows taken from the
# label masks -> models/mask_window/model.pt (stage 1 is train.sh's model).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train_mask_window.json -e config/environment.json \
  --set MMAR_CKPT_DIR="$MMAR_ROOT/models/mask_window" "$@"
