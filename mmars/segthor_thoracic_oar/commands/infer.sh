#!/usr/bin/env bash
# Segment CTs: one <case>_seg.nii.gz (labels 1 oesophagus, 2 heart, 3 trachea, 4 aorta) per
# input, on the input's own grid; e.g. infer.sh --input scan.nii.gz --output out/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference.json -e config/environment.json "$@"
