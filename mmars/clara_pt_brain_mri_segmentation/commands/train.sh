#!/usr/bin/env bash
# Train on one GPU (or the CPU): SegResNet, Dice loss. Extra arguments are passed on, e.g.
# --set epochs=10, or --set use_vae=true for the VAE-regularised SegResNetVAE of the paper.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara train -m "$MMAR_ROOT" -c config/config_train.json -e config/environment.json "$@"
