#!/usr/bin/env bash
# Train one view's 2D model (config/config_train.json); the view is the axis variable:
# train.sh --set axis=0 (sagittal, the default), 1 (coronal), 2 (axial) or 012 (all three).
# Checkpoints go to models/axis<N>/. Extra arguments are passed on.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
