#!/usr/bin/env bash
# The demo behind `make demo`: phantom data -> train -> validate -> export -> infer, on the CPU.
# Copies the spleen MMAR to DEMO_DIR (as Clara users `cp -r` an MMAR to try a variation), so the
# repository's mmars/ stays clean. Usage: commands/demo.sh [DEMO_DIR]   (default: demo)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
demo="${1:-demo}"
mmar="$demo/clara_pt_spleen_ct_segmentation"

rm -rf "$mmar" "$demo/infer"
mkdir -p "$demo"
cp -r mmars/clara_pt_spleen_ct_segmentation "$mmar"
rm -rf "$mmar/models" "$mmar/eval" "$mmar/data"

echo "== phantom data: 16 abdominal CT phantoms in $mmar/data"
clara synth spleen -o "$mmar/data" -n 16 --seed 1 --train-fraction 0.75
data=(DATA_ROOT="$mmar/data" DATASET_JSON="$mmar/data/dataset_0.json")
# CPU-sized variant of the model card's recipe: 2 mm voxels, 32^3 patches, 30 epochs.
cpu=(pixdim=[2,2,2] roi_size=[64,64,64])

echo "== train"
clara train -m "$mmar" --set "${data[@]}" "${cpu[@]}" epochs=30 num_interval_per_valid=5 \
  patch_size=[32,32,32] learning_rate=2e-3 num_samples=4 amp=false num_workers=2

echo "== validate (checkpoint)"
clara validate -m "$mmar" --set "${data[@]}" "${cpu[@]}"

echo "== export (TorchScript, checked against the checkpoint)"
# AHNet's torch.export program fixes its spatial size (the windows here are 64^3, the patch
# 32^3), so the default (pt2, else TorchScript) would end in TorchScript after a pt2 attempt.
clara export -m "$mmar" --format torchscript --set patch_size=[32,32,32]

echo "== validate (TorchScript)"
clara validate -m "$mmar" --set "${data[@]}" "${cpu[@]}" dont_load_ts_model=false dont_load_ckpt_model=true

echo "== infer: segmentations in each scan's own geometry"
clara infer -m "$mmar" --set "${cpu[@]}" --input "$mmar/data/imagesTr" --output "$demo/infer"

echo "== done: see $mmar/models/train_curves.png, $mmar/eval/ and $demo/infer/"
