"""The BraTS MMAR end to end on tiny phantoms, in both datalist layouts: train, validate (a
region report), infer (BraTS label maps on each input's grid), export (the VAE dropped).

One epoch on three 32-voxel cases: the scores are meaningless, the plumbing is what is checked.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.families.brats.phantom import PhantomOptions, synthesize_brats
from clara_cli.workflows.session import RunRequest

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_brain_mri_segmentation"
TINY = {
    "epochs": 1,
    "patch_size": [32, 32, 16],
    "roi_size": [32, 32, 16],
    "init_filters": 8,
    "batch_size": 2,
    "num_workers": 0,
    "amp": False,
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["files", "4d"])
def layout_data(request, tmp_path_factory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp(f"brats_{request.param}")
    synthesize_brats(
        root, 4, seed=2, options=PhantomOptions(size=32), layout=request.param, train_fraction=0.75
    )
    return request.param, root


def _request(mmar: Path, config: str, data: Path, **extra) -> RunRequest:
    overrides = {
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset_0.json"),
        **TINY,
        **extra,
    }
    return RunRequest(mmar, config, overrides=overrides, device="cpu")


def test_train_validate_infer_export(layout_data, tmp_path):
    from clara_cli.workflows.export import export_mmar
    from clara_cli.workflows.infer import InferOptions, infer
    from clara_cli.workflows.train import train
    from clara_cli.workflows.validate import validate

    layout, data = layout_data
    mmar = tmp_path / "mmar"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    vae = layout == "4d"  # each layout also runs one of the two networks
    result = train(_request(mmar, "config/config_train.json", data, use_vae=vae))
    assert result.epochs_run == 1 and (mmar / "models" / "model.pt").is_file()

    listed = json.loads((data / "dataset_0.json").read_text())["validation"]
    case = Path(listed[0]["label"]).name.replace(".nii.gz", "")
    report = validate(_request(mmar, "config/config_validation.json", data))
    assert [r["case"] for r in report.rows] == [case]
    assert list(report.rows[0]["dice"]) == ["TC", "WT", "ET"]
    with open(mmar / "eval" / "metrics_regions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    dice = [float(rows[0][f"dice_{r}"]) for r in ("TC", "WT", "ET")]
    assert float(rows[0]["dice_mean"]) == pytest.approx(sum(dice) / 3)
    # The recorder's per-region Dice is MONAI's MeanDice of the same masks.
    assert report.metrics["val_mean_dice"] == pytest.approx(sum(dice) / 3, abs=1e-5)
    regions = json.loads((mmar / "eval" / "metrics_regions.json").read_text())
    assert regions["regions"] == ["TC", "WT", "ET"] and "average" in regions["dice"]
    assert (mmar / "eval" / "overlays" / f"{case}.png").is_file()

    exported = export_mmar(_request(mmar, "config/config_train.json", data), ["torchscript"])
    assert exported[0].max_abs_diff <= 1e-4
    if vae:
        import torch

        names = [n for n, _ in torch.jit.load(str(mmar / "models" / "model.ts")).named_parameters()]
        assert not any(".vae_" in n or n.startswith("vae_") for n in names)
        scripted = validate(
            _request(
                mmar,
                "config/config_validation.json",
                data,
                dont_load_ts_model=False,
                dont_load_ckpt_model=True,
            )
        )
        assert scripted.rows[0]["dice"] == pytest.approx(report.rows[0]["dice"], abs=1e-4)

    out = tmp_path / "out"
    inferred = infer(
        _request(mmar, "config/config_inference.json", data, datalist_key="validation"),
        InferOptions(output_dir=out, probabilities=True, progress=False),
    )
    assert not inferred.failed
    seg = sitk.ReadImage(str(out / f"{case}_seg.nii.gz"))
    reference = listed[0]["image"]
    reference = reference[0] if isinstance(reference, list) else reference
    grid = sitk.ReadImage(str(data / reference))
    assert seg.GetSize() == grid.GetSize()[:3]
    assert np.allclose(seg.GetOrigin(), grid.GetOrigin()[:3])
    assert set(np.unique(sitk.GetArrayFromImage(seg)).tolist()) <= {0, 1, 2, 4}
    prob = sitk.ReadImage(str(out / f"{case}_prob.nii.gz"))
    assert prob.GetNumberOfComponentsPerPixel() == 3
