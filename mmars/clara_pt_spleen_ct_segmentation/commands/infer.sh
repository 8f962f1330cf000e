#!/usr/bin/env bash
# Segment images (config/config_inference.json): one <case>_seg.nii.gz per input, on the input's
# own grid, in MMAR_EVAL_OUTPUT_PATH; extra arguments are passed on, e.g. -i scan.nii.gz -o out.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference.json -e config/environment.json "$@"
