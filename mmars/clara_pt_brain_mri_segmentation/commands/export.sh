#!/usr/bin/env bash
# Export models/model.pt to models/model.pt2 (torch.export; else TorchScript, models/model.ts),
# checked against the checkpoint; the VAE branch of a SegResNetVAE is left out. Extra arguments
# are passed on, e.g. --format onnx.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara export -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
