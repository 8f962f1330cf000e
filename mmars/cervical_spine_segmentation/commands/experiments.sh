#!/usr/bin/env bash
# The study's grid (experiments/pipeline.csv, 96 runs) as a queue: one folder per run under
# runs/pipeline/, results.md in the study's layout. Run it again to resume. Needs
# pretrained/resnet50.pth and pretrained/inceptionv4.pth (ImageNet weights; nothing is
# downloaded). Extra arguments are passed on, e.g. --set DATA_ROOT=/data/cspine --gpus 2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara experiments run "$MMAR_ROOT/experiments/pipeline.csv" -m "$MMAR_ROOT" "$@"
