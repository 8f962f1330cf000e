#!/usr/bin/env bash
# Correct the images once with N4 instead of in every N4 run (long queues):
#   n4_dataconvert.sh data/imagesTr data_n4/imagesTr   (copy labelsTr and the datalist too)
set -euo pipefail
clara dataconvert -d "$1" -o "$2" --n4 -e .nrrd
