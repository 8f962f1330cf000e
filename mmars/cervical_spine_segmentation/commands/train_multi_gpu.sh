#!/usr/bin/env bash
# Train one view's model on 2 GPUs (DistributedDataParallel); extra arguments are passed on.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json --gpus 2 "$@"
