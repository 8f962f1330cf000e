#!/usr/bin/env bash
# Segment the organ under the clicks; the mask <case>_seg.nii.gz lies on the input's own grid.
# e.g. infer.sh -i scan.nii.gz -o out --fg 120,88,31 --bg 140,90,31, or -i scans/ --clicks c.json
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara infer -m "$MMAR_ROOT" -c config/config_inference.json -e config/environment.json "$@"
