#!/usr/bin/env bash
# Export models/model.pt to models/model.pt2 (torch.export), or TorchScript (models/model.ts)
# when the network does not export for any spatial size (AHNet), checked against the
# checkpoint; extra arguments are passed on, e.g. --format torchscript --format onnx.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara export -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
