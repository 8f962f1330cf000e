#!/usr/bin/env bash
# Show the study queue's rows: status, DSC %, minutes (status.sh experiments/pipeline_cpu.csv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara experiments status "${1:-$MMAR_ROOT/experiments/pipeline.csv}" -m "$MMAR_ROOT"
