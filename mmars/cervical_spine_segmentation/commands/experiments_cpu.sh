#!/usr/bin/env bash
# The CPU-sized queue (experiments/pipeline_cpu.csv) on phantoms, with CPU settings:
#   clara synth cspine -o data --size 64 -n 12 && commands/experiments_cpu.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara experiments run "$MMAR_ROOT/experiments/pipeline_cpu.csv" -m "$MMAR_ROOT" --device cpu \
  --set epochs=16 num_interval_per_valid=2 'pixdim=[2.5,2.5,2.5]' 'slice_size=[64,64]' \
  random_encoder=resnet18 encoder_depth=3 divisible=8 learning_rate=1e-3 batch_size=1 amp=false "$@"
