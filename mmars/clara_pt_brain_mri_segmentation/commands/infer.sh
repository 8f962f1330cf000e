#!/usr/bin/env bash
# Segment images (config/config_inference.json): one <case>_seg.nii.gz BraTS label map (0, 1, 2,
# 4) per input, on the input's own grid, in MMAR_EVAL_OUTPUT_PATH; extra arguments are passed
# on, e.g. -i datalist.json -o out --probabilities (the TC/WT/ET probabilities as well).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference.json -e config/environment.json "$@"
