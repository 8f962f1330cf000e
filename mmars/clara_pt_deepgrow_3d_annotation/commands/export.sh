#!/usr/bin/env bash
# Export models/model.pt (3 input channels: image, foreground and background guidance) to
# models/model.pt2 (torch.export; else TorchScript, models/model.ts), checked against the
# checkpoint; e.g. --format onnx.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara export -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
