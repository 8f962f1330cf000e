#!/usr/bin/env bash
# Train SegResNetVAE: loss = Dice + 0.1 (L2 reconstruction + KL), the VAE branch dropped at
# validation, inference and export. Extra arguments are passed on, e.g. epochs=10.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json \
  --set use_vae=true "$@"
