#!/usr/bin/env bash
# Segment volumes with one view's model: infer.sh --set axis=0 -i scan.nrrd -o out/.
# One <case>_seg.nii.gz per input, on the input's own grid.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference.json -e config/environment.json "$@"
