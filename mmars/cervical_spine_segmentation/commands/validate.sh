#!/usr/bin/env bash
# Score one view's model (models/axis<N>/model.pt) on the validation volumes, slice by slice
# along its axis: validate.sh --set axis=1. Report in eval/axis<N>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara validate -m "$MMAR_ROOT" -c config/config_validation.json -e config/environment.json "$@"
