#!/usr/bin/env bash
# Train with 15 simulated click interactions per step (one GPU, or the CPU); extra arguments are
# passed on, e.g. --set epochs=10.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
