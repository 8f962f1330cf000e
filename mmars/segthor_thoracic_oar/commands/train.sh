#!/usr/bin/env bash
# Train the 2D segmenter on axial slices (fixed CT window) -> models/model.pt; extra arguments
# are passed on, e.g. --set epochs=10 encoder=resnet50.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
