#!/usr/bin/env bash
# DeepGrow 3D samples from an MSD-layout dataset (BTCV: imagesTr/, labelsTr/, dataset.json): one
# binary sample per organ and case at 1 x 1 x 3 mm, and the datalist data/dataset.json.
# Extra arguments are passed on, e.g. -d /data/BTCV -o data --limit 4.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/set_env.sh"
clara prepare-dataset --deepgrow --dimensions 3 --pixdim 1 1 3 "$@"
